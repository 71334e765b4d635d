//! `radc reconnect`: back to the sessions left disconnected, through the
//! runtime's `Workspaces1.Reconnect`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use radc_client::proxy::WorkspacesProxy;
use serde::Serialize;

use crate::autostart;
use crate::commands::explain;

#[derive(Serialize)]
struct RowJson<'a> {
    workspace: &'a str,
    outcome: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    cookie: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pid: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub async fn reconnect(workspace: Option<&str>, json: bool) -> Result<ExitCode> {
    let conn = autostart::connect(Duration::from_secs(60)).await?;
    let workspaces = WorkspacesProxy::new(&conn).await?;
    // The sessions open on the caller's display.
    let environment = radc_client::environment::from_process();
    let environment: HashMap<&str, &str> =
        environment.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows = workspaces
        .reconnect(workspace.unwrap_or(""), environment)
        .await
        .map_err(explain)?;
    let failed = rows
        .iter()
        .any(|(_, outcome, ..)| outcome == "failed" || outcome == "refused");
    if json {
        let out: Vec<RowJson> = rows
            .iter()
            .map(|(workspace, outcome, name, cookie, pid, detail)| RowJson {
                workspace,
                outcome,
                name,
                cookie: *cookie,
                pid: *pid,
                detail,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if !rows.iter().any(|r| r.1 == "launched") && !failed {
            println!("No disconnected sessions.");
        }
        for (workspace, outcome, name, cookie, pid, detail) in &rows {
            let name = name.escape_debug();
            let detail = detail.escape_debug();
            match outcome.as_str() {
                "launched" => println!(
                    "{workspace}: reconnected {name} (pid {pid}, connection {cookie}); its .rdp file is {detail}."
                ),
                "refused" => eprintln!("radc: {workspace}: {name} not reconnected: {detail}"),
                "failed" => eprintln!("radc: {workspace}: {detail}"),
                "not-offered" => eprintln!("radc: {workspace}: {detail}; not asked"),
                _ => {}
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
