//! The command line: arguments only. [`crate::commands`] turns them into
//! an operation's inputs ([`crate::ops`]) and prints what it returns
//! ([`crate::report`]).

use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

/// Collective resource provisioning: fetch the large external resources a
/// project declares in `resources.toml` once into a verified, content-addressed
/// shared store, and link them into the project.
#[derive(Debug, Parser)]
#[command(name = "crp", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Examples:
  crp init                                        # start a resources.toml here
  crp add https://example.org/data.csv --purpose \"training data\"
  crp sync                                        # fetch, verify and link every resource
  crp status --check                              # exit 1 unless everything is in place

Exit codes: 0 success; 1 the work could not be completed; 2 invalid input.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The project's manifest [default: `resources.toml` in this folder, else
    /// in the nearest folder above it that has one]
    #[arg(long = "manifest", global = true, value_name = "PATH")]
    pub manifest_arg: Option<PathBuf>,

    /// The manifest to use: `--manifest`, else the one found (see
    /// [`GlobalArgs::find_manifest`]).
    #[arg(skip)]
    pub manifest: PathBuf,

    /// Where the search for a manifest began, when it found none.
    #[arg(skip)]
    pub searched_from: Option<PathBuf>,

    /// The shared store [default: `CRP_STORE`, else ~/infrastructure/shared-resources]
    #[arg(long, global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Output format; `json` prints one versioned document on stdout
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more (up-to-date resources, HTTP requests); repeat for more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// When to use colours (`NO_COLOR` turns them off in `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl GlobalArgs {
    /// Sets [`manifest`](Self::manifest): `--manifest` if given; else, with
    /// `search`, the manifest of the project the folder `cwd` is in (see
    /// [`crate::manifest::find`]); else `resources.toml` here.
    pub fn find_manifest(&mut self, search: bool, cwd: Option<&std::path::Path>) {
        let default = || PathBuf::from(crate::manifest::DEFAULT_FILE);
        self.manifest = match (&self.manifest_arg, cwd) {
            (Some(path), _) => path.clone(),
            (None, Some(cwd)) if search => crate::manifest::find(cwd).unwrap_or_else(|| {
                self.searched_from = Some(cwd.to_owned());
                default()
            }),
            (None, _) => default(),
        };
    }

    /// The manifest, for a command that works without one: the one given
    /// with `--manifest` (which must then be there: its absence is an
    /// error the caller reports), else the one found, if it is a file.
    pub fn manifest_if_any(&self) -> Option<&std::path::Path> {
        (self.manifest_arg.is_some() || self.manifest.is_file()).then_some(self.manifest.as_path())
    }

    /// The manifest `--manifest` names, if it was given: a command that
    /// only looks at a manifest it finds must still refuse one it was
    /// given and cannot read.
    pub fn manifest_given(&self) -> Option<&std::path::Path> {
        self.manifest_arg
            .is_some()
            .then_some(self.manifest.as_path())
    }
}

/// crp's command line as clap sees it: [`Cli`], with each subcommand's
/// `--format` narrowed to the formats it writes (so its help lists only
/// those, and clap refuses the others), its examples after its help, and
/// clap's own colours as `--color` says. The parser, completions and the
/// man page all use it.
pub fn command(color: ColorChoice) -> clap::Command {
    let mut cli = Cli::command().color(match color {
        ColorChoice::Auto => clap::ColorChoice::Auto,
        ColorChoice::Always => clap::ColorChoice::Always,
        ColorChoice::Never => clap::ColorChoice::Never,
    });
    let format = cli
        .get_arguments()
        .find(|a| a.get_id() == "format")
        .cloned()
        .expect("a global `--format`");
    for sub in cli.get_subcommands_mut() {
        let name = sub.get_name().to_owned();
        *sub = narrow(std::mem::take(sub), &format, formats(&name));
        if let Some(examples) = examples(&name) {
            *sub = std::mem::take(sub).after_help(format!("Examples:\n{examples}"));
        }
    }
    // clap's errors show the options already given in their usage line
    // (`crp sync --store <PATH>`), as if they were required: each command
    // keeps the usage its help shows.
    let mut built = cli.clone();
    built.build();
    let usages = usages(&mut built);
    fixed_usage(cli, &usages, "")
}

/// Each subcommand's usage as its help renders it, by its path ("policy
/// check"), without the leading "Usage: ".
fn usages(cmd: &mut clap::Command) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for sub in cmd.get_subcommands_mut() {
        let path = sub
            .get_bin_name()
            .and_then(|b| b.strip_prefix("crp "))
            .unwrap_or(sub.get_name())
            .to_owned();
        let usage = sub.render_usage().to_string();
        found.push((path, usage.trim_start_matches("Usage: ").to_owned()));
        found.extend(usages(sub));
    }
    found
}

/// `cmd` with each subcommand's usage fixed to `usages`'.
fn fixed_usage(mut cmd: clap::Command, usages: &[(String, String)], prefix: &str) -> clap::Command {
    for sub in cmd.get_subcommands_mut() {
        let path = format!("{prefix}{}", sub.get_name());
        let mut fixed = fixed_usage(std::mem::take(sub), usages, &format!("{path} "));
        if let Some((_, usage)) = usages.iter().find(|(p, _)| *p == path) {
            fixed = fixed.override_usage(usage.clone());
        }
        *sub = fixed;
    }
    cmd
}

/// `sub` and its own subcommands, with their own copy of the global
/// `format` argument that accepts only `formats` (clap copies a global
/// argument only into subcommands that lack one).
fn narrow(sub: clap::Command, format: &clap::Arg, formats: &'static [Format]) -> clap::Command {
    // A command that writes only text has no use for `--format`.
    let mut sub = sub.arg(
        format
            .clone()
            .value_parser(FormatParser(formats))
            .hide(formats.len() == 1),
    );
    for nested in sub.get_subcommands_mut() {
        *nested = narrow(std::mem::take(nested), format, formats);
    }
    sub
}

/// The value of the option `long` (`--color`) as the arguments give it,
/// before they are parsed: the last one, in `--color never` or
/// `--color=never` form, before any `--`.
pub fn given(args: &[std::ffi::OsString], long: &str) -> Option<String> {
    let mut value = None;
    let mut args = args.iter().map(|a| a.to_string_lossy());
    let joined = format!("{long}=");
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        } else if arg == long {
            value = args.next().map(|v| v.into_owned());
        } else if let Some(v) = arg.strip_prefix(&joined) {
            value = Some(v.to_owned());
        }
    }
    value
}

/// `--color` as the arguments give it, so that clap's own errors and help
/// follow it too.
pub fn color_in(args: &[std::ffi::OsString]) -> ColorChoice {
    given(args, "--color")
        .and_then(|v| ColorChoice::from_str(&v, false).ok())
        .unwrap_or(ColorChoice::Auto)
}

/// The command the arguments name, subcommands of a group included
/// (`remote add`), if any: the first word that is one, then its own. The
/// value of an option is never taken for a command (`--store add`).
pub fn command_in(args: &[std::ffi::OsString]) -> Option<String> {
    let root = Cli::command();
    let mut command = root.clone();
    let mut words: Vec<String> = Vec::new();
    let mut value_next = false;
    for arg in args.iter().skip(1) {
        if std::mem::take(&mut value_next) {
            continue;
        }
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        // An option's value follows it unless given with it (`--store=x`,
        // `-jN`); global options are the root's.
        let takes_value = |found: &dyn Fn(&clap::Arg) -> bool| {
            root.get_arguments()
                .chain(command.get_arguments())
                .find(|a| found(a))
                .is_some_and(|a| a.get_action().takes_values())
        };
        if let Some(long) = arg.strip_prefix("--") {
            value_next = !long.contains('=') && takes_value(&|a| a.get_long() == Some(long));
            continue;
        }
        if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            value_next = match (chars.next(), chars.next()) {
                (Some(c), None) => takes_value(&|a| a.get_short() == Some(c)),
                _ => false,
            };
            continue;
        }
        let Some(sub) = command.find_subcommand(arg.as_ref()).cloned() else {
            continue;
        };
        words.push(sub.get_name().to_owned());
        if !sub.has_subcommands() {
            break;
        }
        command = sub;
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// The formats a command writes, by its name.
pub fn formats(command: &str) -> &'static [Format] {
    match command {
        "dag" => &[Format::Dot, Format::Text, Format::Json],
        "metrics" => &[Format::Text, Format::Json, Format::Prometheus],
        "drift" | "diff" => &[Format::Text, Format::Json, Format::Markdown],
        "completions" | "man" | "schema" => &[Format::Text],
        _ => &[Format::Text, Format::Json],
    }
}

/// `--format`, limited to some formats.
#[derive(Debug, Clone, Copy)]
struct FormatParser(&'static [Format]);

impl TypedValueParser for FormatParser {
    type Value = Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Format, clap::Error> {
        let names: Vec<&'static str> = self.0.iter().map(|f| format_name(*f)).collect();
        let name = clap::builder::PossibleValuesParser::new(names).parse_ref(cmd, arg, value)?;
        Ok(Format::from_str(&name, false).expect("one of the possible values"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.0.iter().filter_map(|f| f.to_possible_value()),
        ))
    }
}

/// A format's name on the command line.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Json => "json",
        Format::Dot => "dot",
        Format::Prometheus => "prometheus",
        Format::Markdown => "markdown",
    }
}

/// A few typical uses of each command, shown after its help.
fn examples(command: &str) -> Option<&'static str> {
    Some(match command {
        "init" => "  crp init                       # resources.toml here, named after the folder
  crp init --name barkour        # with a project name of your choice",
        "add" => "  crp add https://example.org/data.csv --purpose \"training data\"
  crp add ./vendor/tool.tar.gz --name tool --purpose \"build tool\" --sha256 0f3c…",
        "remove" => "  crp remove data.csv            # the entry and its link go; the object stays for `crp gc`
  crp remove a b c",
        "update" => "  crp update --dry-run           # which sources serve something new, downloading nothing
  crp update                     # fetch and re-pin every resource that changed upstream
  crp update data.csv            # only this one",
        "plan" => "  crp plan
  crp plan --format json | jq '.resources[] | select(.action != \"up-to-date\")'",
        "sync" => "  crp sync                           # fetch, verify, link and pin
  crp sync --locked                  # in CI: the manifest must not change
  crp sync --offline                 # link what the store has, touch no network
  crp sync --no-wait --format json   # for agents: one document, torrents left running",
        "status" => "  crp status
  crp status --check -q          # exit 1 unless every resource is ready (CI)",
        "hash" => "  crp hash ./data.csv            # the sha256 to write in `sha256 = \"…\"`
  crp hash ./dataset/            # a folder's tree digest",
        "schema" => "  crp schema > resources.schema.json",
        "torrent" => "  crp torrent daemon start
  crp torrent daemon stop",
        "hook" => "  crp hook torrent-done --info-hash 0123…   # bring in a held torrent once it is approved",
        "policy" => "  crp policy show
  crp policy check --format json
  crp policy init --collective",
        "pending" => "  crp pending
  crp pending --format json",
        "approve" => "  crp approve dataset --by alice --note \"reviewed the license\"
  crp approve dataset --by alice --file resources.approvals.toml   # for CI runners",
        "deny" => "  crp deny dataset --by alice --reason \"not licensed for this use\"",
        "show" => "  crp show data.csv
  crp show 1f0c9a2e --format json",
        "dag" => "  crp dag | dot -Tsvg > store.svg
  crp dag --format json",
        "request" => "  crp request https://example.org/corpus.tar --purpose \"eval corpus\" --size \"2 GB\"",
        "metrics" => "  crp metrics
  crp metrics --format prometheus > /var/lib/node_exporter/crp.prom",
        "verify" => "  crp verify                     # the project's objects
  crp verify --all               # every object in the store",
        "gc" => "  crp gc                         # what would be archived
  crp gc --apply --grace 7d
  crp gc --remove --older-than 90d --yes",
        "drift" => "  crp drift
  crp drift --upstream --format markdown   # for an issue
  crp drift --all-projects --verify",
        "diff" => "  crp diff origin/main           # the working tree's manifest against main
  crp diff HEAD~1 HEAD --format markdown",
        "remote" => "  crp remote add team s3://crp-cache/team --endpoint https://s3.example.org
  crp remote add team s3://crp-cache/team --endpoint https://s3.example.org --project   # checked in
  crp remote list
  crp remote remove team",
        "push" => "  crp push                       # the project's objects the first remote lacks
  crp push --remote team --all   # every object of the store",
        "pull" => "  crp pull                       # into the store, remotes first, linking nothing
  crp pull --remotes-only        # from remotes and hashed mirrors only",
        "completions" => "  crp completions bash > ~/.local/share/bash-completion/completions/crp
  crp completions zsh > \"${fpath[1]}/_crp\"
  crp completions fish > ~/.config/fish/completions/crp.fish",
        "man" => "  crp man > ~/.local/share/man/man1/crp.1 && man crp
  crp man sync > ~/.local/share/man/man1/crp-sync.1 && man crp-sync",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Graphviz, for `crp dag`
    Dot,
    /// The Prometheus text format, for `crp metrics`
    Prometheus,
    /// Markdown, to paste into an issue or a pull request, for `crp drift` and `crp diff`
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented `resources.toml` to start from
    Init(InitArgs),
    /// Fetch a source into the store and add it to `resources.toml`
    Add(AddArgs),
    /// Remove resources from `resources.toml`, and their links from the project
    Remove(RemoveArgs),
    /// Ask the sources whether their content changed, fetch what did, and re-pin it
    Update(UpdateArgs),
    /// Show what `sync` would do, changing nothing
    Plan,
    /// Fetch what the store lacks, verify it, and link every resource into the project
    Sync(SyncArgs),
    /// Show each resource's size, hash, presence in the store and link
    Status(StatusArgs),
    /// Print a file's sha256, or a folder's tree digest, as the manifest expects it
    Hash(HashArgs),
    /// Print the JSON Schema of `resources.toml`
    Schema,
    /// The store's transmission-daemon
    #[command(subcommand)]
    Torrent(TorrentCommand),
    /// Programs other tools run
    #[command(subcommand)]
    Hook(HookCommand),
    /// The store's policy: show it, check a manifest against it, write one
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List every request awaiting a person's approval, across projects
    Pending,
    /// Approve a request: bound to its exact sha256 and sources
    Approve(ApproveArgs),
    /// Deny a request: bound to its exact sha256 and sources
    Deny(DenyArgs),
    /// Print an object's record and its history
    Show(ShowArgs),
    /// Write the store's content graph: projects, objects and their edges
    Dag,
    /// Write a resource-request message to the bridge, before declaring it
    Request(RequestArgs),
    /// Requests, downloads, storage, seeding and approvals, from the event log and the store
    Metrics,
    /// Re-hash objects (the manifest's, or `--all`) and quarantine corrupted ones
    Verify(VerifyArgs),
    /// Plan (or with `--apply` carry out) archiving what no project references
    Gc(GcArgs),
    /// Report how the store, the project and the sources differ from the manifest (read-only)
    Drift(DriftArgs),
    /// Review a manifest change: what each resource change brings, what the policy says, what it costs
    Diff(DiffArgs),
    /// Remotes: S3-compatible buckets that share objects between stores and machines
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Upload the project's objects (or every object, `--all`) that a remote lacks
    Push(PushArgs),
    /// Fetch the project's objects into the store (remotes first), linking nothing
    Pull(PullArgs),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish
    Completions(CompletionsArgs),
    /// Print crp's man page (roff), or a command's, e.g. `crp man > ~/.local/share/man/man1/crp.1`
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The resources to remove (their objects stay in the store for `crp gc`)
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The resources to update [default: every one]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Ask the sources without downloading, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// How many downloads may run at once [default: `CRP_JOBS`, else 8]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 1 unless every resource is in the store, linked, and allowed
    /// (for CI and scripts; like `terraform plan -detailed-exitcode`)
    #[arg(long)]
    pub check: bool,

    /// Also say which objects a remote lacks (the first remote, or NAME);
    /// with `--check`, any it lacks fails the check
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command, for its own page (`crp-sync(1)`) [default: crp's]
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The manifest before: a git revision (read with `git show REV:FILE`) or a file
    pub base: String,

    /// The manifest after: a git revision or a file [default: the working tree's]
    pub head: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Re-hash objects instead of checking their size and modification time
    #[arg(long)]
    pub verify: bool,

    /// Ask every source whether it changed or went away (HTTP over the network; local files are re-read)
    #[arg(long)]
    pub upstream: bool,

    /// Every project the store knows, and the store itself (orphans, stale projects)
    #[arg(long)]
    pub all_projects: bool,

    /// Accepted drift to leave out [default: `drift-ignore.toml` beside the manifest]
    #[arg(long, value_name = "PATH")]
    pub ignore: Option<PathBuf>,

    /// Also report the objects a remote lacks (the first remote, or NAME)
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Archive the planned objects to cold storage
    #[arg(long, conflicts_with = "remove")]
    pub apply: bool,

    /// How long an object must have been unreferenced [default: `[gc] grace`, or 30 days]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub grace: Option<std::time::Duration>,

    /// Remove archived objects from cold storage for good (with `--older-than` and `--yes`)
    #[arg(long, requires = "older_than")]
    pub remove: bool,

    /// With `--remove`: only objects archived at least this long ago
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "remove")]
    pub older_than: Option<std::time::Duration>,

    /// Confirm `--remove`: nothing is removed without it
    #[arg(long, requires = "remove")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Every object in the store, not only the manifest's
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote to the store's configuration (or, with `--project`, to the manifest)
    Add(RemoteAddArgs),
    /// List the remotes, in the order they are tried, and where their credentials come from
    List,
    /// Remove a remote from the store's configuration (or, with `--project`, the manifest)
    Remove(RemoteRemoveArgs),
}

#[derive(Debug, Args)]
pub struct RemoteAddArgs {
    /// What to call it: letters, digits, `.`, `_` and `-`
    pub name: String,

    /// `s3://bucket` or `s3://bucket/prefix`
    pub url: String,

    /// The S3-compatible service's URL [default: AWS's for the region]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The region requests are signed for [default: `AWS_REGION`, else us-east-1]
    #[arg(long)]
    pub region: Option<String>,

    /// Address the bucket in the path [default: with `--endpoint`]
    #[arg(long, conflicts_with = "virtual_host")]
    pub path_style: bool,

    /// Address the bucket in the host name [default: without `--endpoint`]
    #[arg(long)]
    pub virtual_host: bool,

    /// The profile of the AWS credential files to sign with
    #[arg(long)]
    pub profile: Option<String>,

    /// Write it into `resources.toml` (`[[project.remote]]`), to check in
    #[arg(long)]
    pub project: bool,
}

#[derive(Debug, Args)]
pub struct RemoteRemoveArgs {
    /// The remote's name
    pub name: String,

    /// Remove it from `resources.toml` rather than the store's configuration
    #[arg(long)]
    pub project: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote to push to [default: the first one `crp remote list` shows]
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,

    /// Push every object of the store, not only the project's
    #[arg(long)]
    pub all: bool,

    /// How many transfers may run at once [default: `CRP_JOBS`, else 8]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Fetch only from remotes and hashed mirrors, never from a declared source
    #[arg(long)]
    pub remotes_only: bool,

    /// How many downloads may run at once [default: `CRP_JOBS`, else 8]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the effective policy and where each value comes from
    Show,
    /// Judge the manifest's resources against the policy, fetching nothing
    Check(PolicyCheckArgs),
    /// Write a policy file into the store
    Init(PolicyInitArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// Also honour the approvals in this file, if the policy trusts such files
    #[arg(long, value_name = "PATH")]
    pub approvals: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// The collective's full rule set, for a shared machine
    #[arg(long)]
    pub collective: bool,

    /// Replace an existing policy file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The resource's name, or its sha256
    #[arg(value_name = "NAME|SHA256")]
    pub target: String,

    /// Who approves (recorded)
    #[arg(long, value_name = "WHO")]
    pub by: String,

    /// Why, for the record
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,

    /// Write the approval to this reviewed file beside the manifest instead
    /// of the store's ledger (`crp sync --approvals PATH` reads it)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// The resource's name, or its sha256
    #[arg(value_name = "NAME|SHA256")]
    pub target: String,

    /// Who denies (recorded)
    #[arg(long, value_name = "WHO")]
    pub by: String,

    /// Why (recorded, and shown to whoever asked)
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The resource's name, or the object's sha256
    #[arg(value_name = "NAME|SHA256")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Where the resource can be fetched from
    pub source: String,

    /// Why it is needed
    #[arg(long, value_name = "TEXT")]
    pub purpose: String,

    /// Its size (bytes, or `2 GB`)
    #[arg(long, value_name = "BYTES")]
    pub size: Option<crate::units::Size>,

    /// How urgent it is
    #[arg(long, value_name = "P", default_value = "normal",
          value_parser = ["low", "normal", "high", "urgent"])]
    pub priority: String,

    /// A name for it
    #[arg(long, value_name = "NAME")]
    pub name: Option<crate::name::Name>,

    /// Who asks
    #[arg(long, value_name = "WHO")]
    pub requested_by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TorrentCommand {
    /// Start or stop the store's private transmission-daemon
    #[command(subcommand)]
    Daemon(DaemonCommand),
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start a transmission-daemon for the store: RPC on 127.0.0.1, downloads
    /// into the store, its watch folder and completion hook wired to crp
    Start(DaemonStartArgs),
    /// Stop the daemon `start` started
    Stop,
}

#[derive(Debug, Args)]
pub struct DaemonStartArgs {
    /// Meet peers on this machine only: listen on 127.0.0.1, with no DHT,
    /// peer exchange or port forwarding (for tests and air-gapped machines)
    #[arg(long)]
    pub loopback: bool,

    /// The RPC port on 127.0.0.1 [default: 9091 if free; 0 for any free port]
    #[arg(long, value_name = "PORT")]
    pub rpc_port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// transmission-daemon's `script-torrent-done`: ingest the finished
    /// torrent named by the `TR_TORRENT_*` variables into the store
    TorrentDone(HookArgs),
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The finished torrent, for a person bringing in one the policy held
    /// once it is approved [default: `TR_TORRENT_HASH`]
    #[arg(long, value_name = "HEX")]
    pub info_hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's name [default: derived from the folder's name]
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// An `https://`, `http://` or `file://` URL, or a local path
    pub source: String,

    /// Why the project needs it
    #[arg(long)]
    pub purpose: String,

    /// The resource's name [default: derived from the source's file name]
    #[arg(long)]
    pub name: Option<String>,

    /// The expected sha256; the download must match it
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    /// Who asks for it
    #[arg(long, value_name = "WHO")]
    pub requested_by: Option<String>,

    /// Download afresh, even if the store holds what this source served
    /// before and the source says it has not changed
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Refuse to change `resources.toml`: every resource must have a sha256 (for CI)
    #[arg(long)]
    pub locked: bool,

    /// Never touch the network: link what the store has and list what is missing
    #[arg(long, conflicts_with = "refresh")]
    pub offline: bool,

    /// Fetch only from remotes and hashed mirrors, by sha256, never from a
    /// declared source (air-gapped CI)
    #[arg(long, conflicts_with_all = ["offline", "refresh"])]
    pub remotes_only: bool,

    /// Download unpinned resources afresh, even if the store holds what
    /// their sources served before and the sources say nothing changed
    #[arg(long)]
    pub refresh: bool,

    /// Show what would be done, changing nothing (the same as `crp plan`)
    #[arg(long)]
    pub dry_run: bool,

    /// Wait until every torrent completes [default: in a terminal]
    #[arg(long, overrides_with = "no_wait")]
    pub wait: bool,

    /// Return once torrents are added; they finish in the daemon, and a
    /// later sync picks them up [default: outside a terminal]
    #[arg(long, overrides_with = "wait")]
    pub no_wait: bool,

    /// Stop waiting for torrents after this long (e.g. `90s`, `2h`)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,

    /// How many downloads may run at once [default: `CRP_JOBS`, else 8]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Also honour the approvals in this reviewed file (written by `crp
    /// approve --file`), if the store's policy trusts approvals files
    #[arg(long, value_name = "PATH")]
    pub approvals: Vec<PathBuf>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|err| format!("{err} (write durations like `90s`, `10m` or `2h`)"))
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// The file or folder to hash
    pub path: PathBuf,
}
