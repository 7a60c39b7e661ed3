//! `crp remote add|list|remove`, `crp push` and `crp pull`.

use serde::Serialize;

use crate::cli::{Format, GlobalArgs, PullArgs, PushArgs, RemoteAddArgs, RemoteCommand};
use crate::error::{ExitStatus, UsageError};
use crate::execute::Status;
use crate::ops::remote::{self, Place, PushOptions, PushResult};
use crate::remote::RemoteConfig;
use crate::report::{Printer, SCHEMA_VERSION};
use crate::units::ByteCount;

pub(super) async fn run(
    global: &GlobalArgs,
    command: &RemoteCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        RemoteCommand::Add(args) => {
            let config = config_of(args)?;
            let place = place(global, args.project);
            let path = remote::add(place, &config, printer.reporter(), printer).await?;
            written(printer, "added", &config.name.to_string(), &path);
        }
        RemoteCommand::Remove(args) => {
            let path = remote::remove(
                place(global, args.project),
                &args.name,
                printer.reporter(),
                printer,
            )
            .await?;
            written(printer, "removed", &args.name, &path);
        }
        RemoteCommand::List => {
            let listed = remote::list(global.store.as_deref(), global.manifest_if_any())?;
            if printer.format() == Format::Json {
                #[derive(Serialize)]
                struct Document<'a> {
                    schema_version: u32,
                    command: &'static str,
                    remotes: &'a [remote::Listed],
                }
                printer.json(&Document {
                    schema_version: SCHEMA_VERSION,
                    command: "remote list",
                    remotes: &listed,
                });
            } else if listed.is_empty() {
                printer.note(
                    "no remote is configured; add one with `crp remote add NAME s3://BUCKET/PREFIX --endpoint URL`",
                );
            } else {
                let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
                for l in &listed {
                    printer.out(format!(
                        "{:<width$}  {}  {} ({}{})  from the {}; credentials: {}",
                        l.name,
                        l.url,
                        l.endpoint.trim_end_matches('/'),
                        l.region,
                        if l.path_style { ", path-style" } else { "" },
                        match l.configured_in {
                            crate::remote::Origin::Project => "project",
                            crate::remote::Origin::Store => "store",
                        },
                        l.credentials
                    ));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

fn place(global: &GlobalArgs, project: bool) -> Place<'_> {
    match project {
        true => Place::Project(&global.manifest, global.store.as_deref()),
        false => Place::Store(global.store.as_deref()),
    }
}

fn written(printer: &Printer, verb: &str, name: &str, path: &std::path::Path) {
    if printer.format() == Format::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            schema_version: u32,
            command: String,
            remote: &'a str,
            file: &'a std::path::Path,
        }
        printer.json(&Document {
            schema_version: SCHEMA_VERSION,
            command: format!("remote {}", if verb == "added" { "add" } else { "remove" }),
            remote: name,
            file: path,
        });
    } else {
        printer.out(format!(
            "{verb} remote `{name}` in `{}`",
            crate::fsutil::display_path(path)
        ));
    }
}

/// The remote `crp remote add` describes, checked like one read from a file.
fn config_of(args: &RemoteAddArgs) -> Result<RemoteConfig, UsageError> {
    let usage = |err: String| UsageError::new(err);
    let config = RemoteConfig {
        name: args.name.parse().map_err(usage)?,
        url: args.url.parse().map_err(usage)?,
        endpoint: match &args.endpoint {
            Some(text) => Some(text.parse().map_err(usage)?),
            None => None,
        },
        region: match &args.region {
            Some(region) => {
                crate::remote::check_region(region).map_err(usage)?;
                Some(region.clone())
            }
            None => None,
        },
        path_style: match (args.path_style, args.virtual_host) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        profile: match &args.profile {
            Some(profile) => {
                crate::remote::check_profile(profile).map_err(usage)?;
                Some(profile.clone())
            }
            None => None,
        },
    };
    // The defaults applied, as a run would: a virtual-host remote at an IP
    // address is refused here, not at the first push.
    crate::remote::Remote::new(&config, crate::remote::Origin::Store).map_err(usage)?;
    Ok(config)
}

pub(super) async fn push(
    global: &GlobalArgs,
    args: &PushArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let manifest = match args.all {
        true => global.manifest_if_any(),
        false => Some(global.manifest.as_path()),
    };
    let options = PushOptions {
        remote: args.remote.clone(),
        all: args.all,
        jobs: usize::from(args.jobs.unwrap_or(crate::settings::jobs()?)),
    };
    let report = remote::push(
        global.store.as_deref(),
        manifest,
        &options,
        printer.reporter(),
    )
    .await?;
    // An object this store lacks is one the remote will lack too.
    let failed = report.stopped.is_some()
        || report
            .objects
            .iter()
            .any(|o| matches!(o.result, PushResult::Failed | PushResult::Missing));
    if printer.format() == Format::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            schema_version: u32,
            command: &'static str,
            ok: bool,
            #[serde(flatten)]
            report: &'a remote::PushReport,
        }
        printer.json(&Document {
            schema_version: SCHEMA_VERSION,
            command: "push",
            ok: !failed,
            report: &report,
        });
    } else {
        let count = |result| report.objects.iter().filter(|o| o.result == result).count();
        for o in &report.objects {
            let name = match o.resources.is_empty() {
                true => o.sha256.short(),
                false => o.resources.join(", "),
            };
            match o.result {
                PushResult::Uploaded => printer.out(format!(
                    "  uploaded     {name}  {}",
                    ByteCount(o.size.unwrap_or(0))
                )),
                PushResult::Missing => {
                    printer.out(format!("  not in store {name}  (`crp sync` fetches it)"))
                }
                PushResult::Failed => printer.out(format!(
                    "  failed       {name}: {}",
                    o.error.as_deref().unwrap_or("unknown")
                )),
                PushResult::Present | PushResult::Stopped => {}
            }
        }
        printer.out(format!(
            "pushed to remote `{}` ({}): {} uploaded ({}), {} already there{}{}{}",
            report.remote,
            report.url,
            crate::units::count(count(PushResult::Uploaded) as u64, "object"),
            ByteCount(report.uploaded_bytes),
            count(PushResult::Present),
            match count(PushResult::Missing) {
                0 => String::new(),
                n => format!(", {n} not in this store"),
            },
            match count(PushResult::Failed) {
                0 => String::new(),
                n => format!(", {n} failed"),
            },
            match count(PushResult::Stopped) {
                0 => String::new(),
                n => format!(", {n} not done (the push stopped)"),
            },
        ));
        if let Some(stopped) = &report.stopped {
            printer.failure(&stopped.message, stopped.hint.as_deref());
        }
    }
    Ok(match failed {
        true => ExitStatus::Failure,
        false => ExitStatus::Success,
    })
}

pub(super) async fn pull(
    global: &GlobalArgs,
    args: &PullArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = crate::ops::sync::Options {
        locked: false,
        offline: false,
        remotes_only: args.remotes_only,
        fetch_only: true,
        refresh: false,
        dry_run: false,
        wait: crate::torrent::fetch::WaitMode {
            wait: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            timeout: None,
        },
        jobs: args.jobs,
        approvals: Vec::new(),
    };
    let outcome = crate::ops::sync::sync(
        global.store.as_deref(),
        &global.manifest,
        &options,
        printer.reporter(),
        printer,
    )
    .await?;
    let crate::ops::sync::Outcome::Synced(report) = outcome else {
        unreachable!("a pull is never a dry run")
    };
    let failed = report
        .resources
        .iter()
        .any(|r| !matches!(r.status, Status::Ok));
    if printer.format() == Format::Json {
        #[derive(Serialize)]
        struct Document<'a> {
            schema_version: u32,
            command: &'static str,
            ok: bool,
            resources: &'a [crate::execute::ResourceOutcome],
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            remotes_left_out: &'a [String],
        }
        printer.json(&Document {
            schema_version: SCHEMA_VERSION,
            command: "pull",
            ok: !failed,
            resources: &report.resources,
            remotes_left_out: &report.remotes_left_out,
        });
    } else {
        for r in &report.resources {
            match (&r.fetched_from, &r.error) {
                (Some(from), _) => {
                    printer.out(format!(
                        "  fetched      {}  {} from {from}",
                        r.name,
                        ByteCount(r.size.unwrap_or(0))
                    ));
                }
                (None, Some(error)) => {
                    // The first source's reason, as a sync gives it.
                    let reason = error
                        .failures
                        .first()
                        .map(|f| {
                            format!(
                                " ({} from {})",
                                f.error.lines().next().unwrap_or_default(),
                                f.source
                            )
                        })
                        .unwrap_or_default();
                    printer.out(format!(
                        "  not fetched  {}: {}{reason}",
                        r.name, error.message
                    ));
                    if let Some(hint) = &error.hint {
                        printer.hint(hint);
                    }
                }
                (None, None) => {}
            }
        }
        // Counted by object: resources that share one are one.
        let objects = |keep: &dyn Fn(&crate::execute::ResourceOutcome) -> bool| {
            let mut seen = std::collections::HashSet::new();
            report
                .resources
                .iter()
                .filter(|r| keep(r))
                .filter(|r| seen.insert(r.sha256.map_or_else(|| r.name.to_string(), |d| d.hex())))
                .count()
        };
        let fetched = objects(&|r| r.fetched_from.is_some());
        let restored = objects(&|r| r.restored_from.is_some());
        let present = objects(&|r| {
            r.status == Status::Ok && r.fetched_from.is_none() && r.restored_from.is_none()
        });
        let missing = objects(&|r| r.status != Status::Ok);
        let mut parts = vec![format!(
            "{} fetched",
            crate::units::count(fetched as u64, "object")
        )];
        if restored > 0 {
            parts.push(format!("{restored} restored from cold storage"));
        }
        parts.push(format!("{present} already in the store"));
        if missing > 0 {
            parts.push(format!("{missing} not fetched"));
        }
        printer.out(format!(
            "pulled into `{}`: {}",
            crate::fsutil::display_path(&report.store),
            parts.join(", ")
        ));
    }
    Ok(match failed {
        true => ExitStatus::Failure,
        false => ExitStatus::Success,
    })
}
