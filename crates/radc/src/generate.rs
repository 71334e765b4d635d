//! `radc generate`: man pages and shell completions from the command-line
//! definition, for packagers (`scripts/package.sh`).
//!
//! The subcommand is added to the parser here rather than to `Command`, so
//! the generated pages and completions describe exactly the commands users
//! have: clap_complete would otherwise offer even a hidden `generate`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, CommandFactory, FromArgMatches, value_parser};
use clap_complete::Shell;

use crate::Cli;

const NAME: &str = "generate";

/// Parses the command line like `Cli::try_parse`, except that `radc
/// generate …` is run here and exits.
pub(crate) fn try_parse() -> Result<Cli, clap::Error> {
    let matches = Cli::command().subcommand(plumbing()).try_get_matches()?;
    if let Some((NAME, sub)) = matches.subcommand() {
        let code = match run(sub) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("radc: {e:#}");
                1
            }
        };
        std::process::exit(code);
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut Cli::command()))
}

fn plumbing() -> clap::Command {
    clap::Command::new(NAME)
        .hide(true)
        .about("Write radc's man pages or shell completions (for packaging)")
        .subcommand_required(true)
        .subcommand(
            clap::Command::new("man")
                .about("Write radc.1 and one page per subcommand (radc-NAME.1) into DIR")
                .arg(
                    Arg::new("dir")
                        .value_name("DIR")
                        .required(true)
                        .value_parser(value_parser!(PathBuf)),
                ),
        )
        .subcommand(
            clap::Command::new("completions")
                .about("Print the completion script for SHELL")
                .arg(
                    Arg::new("shell")
                        .value_name("SHELL")
                        .required(true)
                        .value_parser(value_parser!(Shell)),
                ),
        )
}

fn run(matches: &ArgMatches) -> Result<()> {
    match matches.subcommand() {
        Some(("man", m)) => {
            let dir = m.get_one::<PathBuf>("dir").expect("required");
            man_pages(dir)
        }
        Some(("completions", m)) => {
            let shell = *m.get_one::<Shell>("shell").expect("required");
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "radc", &mut out);
            std::io::stdout()
                .write_all(&out)
                .context("cannot write the completions")
        }
        _ => unreachable!("a subcommand is required"),
    }
}

fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // clap_mangen::generate_to, except that every page's footer names radc
    // and its version rather than the subcommand.
    fn generate(cmd: clap::Command, source: &str, dir: &Path) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            generate(sub, source, dir)?;
        }
        clap_mangen::Man::new(cmd).source(source).generate_to(dir)?;
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!("radc {}", env!("CARGO_PKG_VERSION"));
    generate(cmd, &source, dir)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_man_page_and_generate_none() {
        let dir = tempfile::tempdir().unwrap();
        man_pages(dir.path()).unwrap();
        fn pages(cmd: &clap::Command, prefix: &str, into: &mut Vec<String>) {
            into.push(format!("{prefix}.1"));
            for sub in cmd.get_subcommands() {
                pages(sub, &format!("{prefix}-{}", sub.get_name()), into);
            }
        }
        let mut expected = Vec::new();
        pages(&Cli::command(), "radc", &mut expected);
        let mut written: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        expected.sort();
        written.sort();
        assert_eq!(written, expected);
        for page in &written {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(!text.contains(NAME), "{page} mentions {NAME}");
        }
    }

    #[test]
    fn completions_offer_the_commands_but_not_generate() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "radc", &mut out);
            let script = String::from_utf8(out).unwrap();
            assert!(script.contains("subscribe"), "{shell}");
            assert!(script.contains("password-stdin"), "{shell}");
            assert!(!script.contains(NAME), "{shell} completion offers {NAME}");
        }
    }
}
