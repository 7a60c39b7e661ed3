//! `crp plan` and `crp status [--check]`: the plan, changing nothing.

use crate::cli::{Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::status;
use crate::report::Printer;

/// How to show the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View<'a> {
    Plan,
    /// `check`: exit 1 unless every resource is ready; `remote`: also ask
    /// a remote (`""` for the first) which objects it lacks.
    Status {
        check: bool,
        remote: Option<&'a str>,
    },
}

pub(super) async fn run(
    global: &GlobalArgs,
    printer: &Printer,
    view: View<'_>,
) -> anyhow::Result<ExitStatus> {
    let (store, manifest) = (global.store.as_deref(), &global.manifest);
    match view {
        View::Plan => printer.plan(&status::plan(store, manifest, printer.reporter(), printer)?),
        View::Status { check, remote } => {
            let (plan, torrents) =
                status::status(store, manifest, printer.reporter(), printer).await?;
            let remote = match remote {
                Some(name) => {
                    let manifest = crate::manifest::Manifest::load(manifest)?;
                    let name = Some(name).filter(|n| !n.is_empty());
                    Some(crate::ops::remote::lacking(store, &[manifest], name).await?)
                }
                None => None,
            };
            // `--check -q` answers with its exit code alone.
            if !(check && global.quiet && printer.format() == Format::Text) {
                printer.status(&plan, &torrents, remote.as_ref());
            }
            if check && remote.as_ref().is_some_and(|r| !r.lacking.is_empty()) {
                printer.note(
                    "not ready: the remote lacks objects (see above): `crp push` uploads them",
                );
                return Ok(ExitStatus::Failure);
            }
            if check && !plan.ready() {
                printer.note(format!(
                    "not ready: {} of {} missing, not linked or not allowed (see the table): `crp sync` fetches and links what it can, `crp pending` lists what waits for a person",
                    plan.unready().count(),
                    crate::units::count(plan.resources.len() as u64, "resource"),
                ));
                return Ok(ExitStatus::Failure);
            }
        }
    }
    Ok(ExitStatus::Success)
}
