//! The `crp` binary: parse arguments, run the command, map the outcome to
//! an exit code.

use std::process::ExitCode;

use clap::FromArgMatches as _;

use crp::cli::Cli;
use crp::commands;
use crp::error::ExitStatus;
use crp::report::Printer;

fn main() -> ExitCode {
    raise_open_file_limit();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = crp::cli::command(crp::cli::color_in(&args));
    let matches = match command.try_get_matches_from(&args) {
        Ok(matches) => matches,
        // `--format json` promises a document, even for a bad argument.
        Err(err)
            if err.use_stderr()
                && crp::cli::given(&args, "--format").as_deref() == Some("json") =>
        {
            let name = crp::cli::command_in(&args).unwrap_or_else(|| "crp".into());
            crp::report::argument_error(&name, &err);
            return ExitCode::from(2);
        }
        Err(err) => err.exit(),
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    // `crp init` writes here; every other command works on the project the
    // current folder is in.
    let search = !matches!(cli.command, crp::cli::Command::Init(_));
    cli.global
        .find_manifest(search, std::env::current_dir().ok().as_deref());
    let printer = Printer::new(&cli.global, commands::name(&cli.command));
    init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return printer
                .error(&anyhow::Error::new(err).context("failed to start"))
                .into();
        }
    };
    let status = match runtime.block_on(commands::run(cli, &printer)) {
        Ok(status) => status,
        Err(err) => printer.error(&err),
    };
    // Downloads that lost a race are abandoned, not awaited.
    runtime.shutdown_background();
    ExitStatus::into(status)
}

/// Raises the soft limit on open files to the hard one, as build tools and
/// runtimes do (`ulimit -n` is often 1,024 while the hard limit is far
/// higher). crp never relies on it: what a sync holds open is bounded by
/// `--jobs`, not by the number of resources. Unlimited or unreadable limits
/// are left as they are.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
}

/// `-v` shows crp's debug log on stderr, `-vv` everything's, coloured as
/// `--color` says for stderr.
fn init_logging(global: &crp::cli::GlobalArgs) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::filter::LevelFilter;
    let (verbose, quiet) = (global.verbose, global.quiet);
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(crp::stdio::LogWriter::default)
        .without_time()
        .with_ansi(crp::report::use_color(
            global.color,
            std::io::stderr().is_terminal(),
        ))
        .with_target(verbose > 1)
        .init();
}
