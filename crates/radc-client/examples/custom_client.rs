//! A minimal custom client: it "opens" one connection per display name given
//! on the command line, registers each with the radc runtime, and closes
//! them when the runtime asks (for example after `radc disconnect WORKSPACE`).
//!
//! ```sh
//! radc setup                        # once: the bus starts the runtime when needed
//! cargo run -p radc-client --example custom_client -- --workspace demo Notepad Paint
//! radc status                       # shows both connections
//! radc disconnect demo              # both close; the example exits
//! ```

use std::sync::Arc;

use clap::Parser;
use radc_client::{ClientError, Runtime, WorkspaceClientExt};
use tokio::sync::Notify;

/// Register pretend connections with the radc runtime.
#[derive(Parser)]
struct Args {
    /// The workspace the connections belong to.
    #[arg(long, default_value = "demo")]
    workspace: String,
    /// Answer IssueDisconnect with an error instead of closing.
    #[arg(long)]
    refuse: bool,
    /// Display names of the connections to open.
    #[arg(required = true)]
    names: Vec<String>,
}

/// One pretend connection.
struct Connection {
    workspace: String,
    name: String,
    refuse: bool,
    closed: Arc<Notify>,
}

impl WorkspaceClientExt for Connection {
    fn resource_id(&self) -> String {
        self.workspace.clone()
    }

    fn resource_display_name(&self) -> String {
        self.name.clone()
    }

    async fn issue_disconnect(&self) -> Result<(), ClientError> {
        if self.refuse {
            return Err(ClientError::failed(format!(
                "{} has unsaved work",
                self.name
            )));
        }
        println!("closing {}", self.name);
        self.closed.notify_one();
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = Runtime::connect().await?;
    let mut open = Vec::new();
    for name in &args.names {
        let closed = Arc::new(Notify::new());
        let registration = runtime
            .add_resource(Connection {
                workspace: args.workspace.clone(),
                name: name.clone(),
                refuse: args.refuse,
                closed: closed.clone(),
            })
            .await?;
        println!("{name}: registered with cookie {}", registration.cookie());
        open.push((registration, closed));
    }
    for (registration, closed) in open {
        closed.notified().await;
        runtime.remove_resource(registration).await?;
    }
    println!("all connections closed");
    Ok(())
}
