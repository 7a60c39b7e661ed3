//! `crp pending`, `crp approve`, `crp deny`: people's decisions.

use crate::cli::{ApproveArgs, DenyArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::approval::{self, Deciding};
use crate::report::Printer;
use crate::report::approval::print_decision;

pub(super) fn pending(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // A mistyped store path is said, not shown as a store with nothing
    // waiting.
    let store = crate::store::Store::open(global.store.as_deref())?;
    if !store.check()? {
        printer.note(format!(
            "there is no store at `{}` yet: nothing waits for approval",
            store.root().display()
        ));
    }
    let pending = approval::pending(global.store.as_deref())?;
    crate::report::approval::pending(printer, pending);
    Ok(ExitStatus::Success)
}

pub(super) fn approve(
    global: &GlobalArgs,
    args: &ApproveArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let decision = approval::approve(
        global.store.as_deref(),
        global.manifest_if_any(),
        &Deciding {
            target: &args.target,
            by: &args.by,
            note: args.note.clone(),
            reason: None,
            file: args.file.as_deref(),
        },
    )?;
    printer.note(format!(
        "approved `{}` ({}) {}",
        decision.name,
        decision
            .sha256
            .map_or_else(|| "not pinned".into(), |d| d.short()),
        match &args.file {
            Some(path) => format!("in `{}`", path.display()),
            None => "in the store's ledger; the next `crp sync` fetches it".into(),
        }
    ));
    print_decision(printer, "approve", decision, args.file.clone());
    Ok(ExitStatus::Success)
}

pub(super) fn deny(
    global: &GlobalArgs,
    args: &DenyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let decision = approval::deny(
        global.store.as_deref(),
        global.manifest_if_any(),
        &Deciding {
            target: &args.target,
            by: &args.by,
            note: None,
            reason: Some(args.reason.clone()),
            file: None,
        },
    )?;
    printer.note(format!("denied `{}`: {}", decision.name, args.reason));
    print_decision(printer, "deny", decision, None);
    Ok(ExitStatus::Success)
}
