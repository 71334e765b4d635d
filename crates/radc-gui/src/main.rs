//! `radc-gui`: the face of radc for people who never open a terminal.
//!
//! - `radc-gui window`: the Workspaces window, the Linux twin of Windows'
//!   "RemoteApp and Desktop Connections" control panel. A pure client of
//!   the runtime's D-Bus API (`org.radc.Runtime`).
//! - `radc-gui prompt`: the sign-in prompt the runtime starts when it needs
//!   a password it does not have; it answers on standard output.

mod add;
mod backend;
mod prompt;
mod secret;
mod text;
mod widgets;
mod window;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "radc-gui",
    version,
    about = "Windows for radc: the Workspaces window and the sign-in prompt"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Opens the Workspaces window: add and remove workspaces, choose what
    /// is in the application menu, launch apps and desktops, see and end
    /// connections. A second call shows the window already open.
    Window,
    /// Asks for a workspace's user name and password, for the radc runtime.
    /// "Sign In" prints a JSON line `{"user": …, "remember": …}` and the
    /// password on a second line, and exits 0; "Cancel", Escape or closing
    /// the window prints nothing and exits 1.
    Prompt {
        /// The workspace's name, shown in the title ("Sign in to NAME").
        #[arg(long, value_name = "NAME")]
        workspace: String,
        /// The user name to start with, e.g. 'DOMAIN\user' (may be empty).
        #[arg(long, value_name = "USER")]
        user: String,
        /// Why the password is asked for, shown above the fields (e.g. "The
        /// stored password was refused").
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Window => window::run(),
        Command::Prompt {
            workspace,
            user,
            reason,
        } => prompt::run(prompt::Request {
            workspace,
            user,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The man page the package installs is written by hand; it must name
    /// every subcommand and option there is.
    #[test]
    fn the_man_page_names_every_subcommand_and_option() {
        let page = include_str!("../data/radc-gui.1");
        for sub in super::Cli::command().get_subcommands() {
            assert!(
                page.contains(&format!(".B radc-gui {}", sub.get_name())),
                "radc-gui.1 lacks {}",
                sub.get_name()
            );
            for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
                assert!(
                    page.contains(&format!("\\-\\-{arg}")),
                    "radc-gui.1 lacks --{arg}"
                );
            }
        }
    }
}
