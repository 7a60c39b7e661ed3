//! `crp gc`: archive what no project needs, and remove what was archived.

use crate::cli::{GcArgs, GlobalArgs};
use crate::error::{ExitStatus, UsageError};
use crate::ops::gc::{self, Outcome, Request};
use crate::report::Printer;
use crate::report::gc::print;
use crate::units::ByteCount;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &GcArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let request = Request {
        apply: args.apply,
        grace: args.grace,
        remove: args.remove,
        older_than: args.older_than,
        yes: args.yes,
    };
    // The command a hint suggests repeats the options given.
    let mut given = String::new();
    if let Some(store) = &global.store {
        given.push_str(&format!(
            " --store {}",
            crate::fsutil::shell_word(&store.display().to_string())
        ));
    }
    if let Some(grace) = args.grace {
        given.push_str(&format!(" --grace {}", humantime::format_duration(grace)));
    }
    match gc::gc(global.store.as_deref(), request, printer.reporter()).await? {
        Outcome::NoStore(root) => printer.note(format!(
            "there is no store at `{}` yet: nothing to collect",
            root.display()
        )),
        Outcome::NeedsConsent(plan) => {
            print(printer, &plan, &given, false, &[], &[], &[]);
            return Err(UsageError::new(format!(
                "removing {} object{} ({}) from cold storage needs `--yes`",
                plan.remove.len(),
                if plan.remove.len() == 1 { "" } else { "s" },
                ByteCount(plan.remove.iter().map(|c| c.size).sum())
            ))
            .hint("removal cannot be undone: check the list above, then run it again with `--yes`")
            .into());
        }
        Outcome::Collected {
            plan,
            applied,
            archived,
            failed,
            removed,
        } => {
            print(
                printer, &plan, &given, applied, &archived, &failed, &removed,
            );
            if !failed.is_empty() {
                return Ok(ExitStatus::Failure);
            }
        }
    }
    Ok(ExitStatus::Success)
}
