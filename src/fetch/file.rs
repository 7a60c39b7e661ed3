//! Local sources: copied through the same hashing writer as downloads.

use std::io::{self, Read};
use std::path::Path;

use super::part::Part;
use super::{Delivered, Expect, SourceError};
use crate::digest::READ_BUFFER;
use crate::progress::Download;
use crate::store::record::FileStamp;

/// Copies the file at `path` into `part`, stopping as soon as it passes the
/// expected size.
pub(super) async fn copy(
    path: &Path,
    mut part: Part,
    expect: Expect<'_>,
    progress: &dyn Download,
) -> Result<(Part, Delivered), SourceError> {
    let read_err = |source: io::Error| SourceError::Read {
        path: path.to_owned(),
        source,
    };
    // The copy is plain blocking I/O; let the runtime move other tasks away
    // from this thread while it runs.
    tokio::task::block_in_place(|| {
        let mut file = crate::fsutil::open_regular(path).map_err(read_err)?;
        // How the file looked before a byte was read: what is remembered of
        // it, and, compared after, whether it changed under the copy.
        let before = file.metadata().map_err(read_err)?;
        progress.set_length(before.len());
        part.reset().map_err(SourceError::Write)?;
        let mut buffer = vec![0u8; READ_BUFFER];
        loop {
            let n = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(read_err(err)),
            };
            if let Some(limit) = expect.size
                && part.len() + n as u64 > limit
            {
                return Err(SourceError::TooLarge { limit });
            }
            if let Some(limit) = expect.cap
                && expect.size.is_none()
                && part.len() + n as u64 > limit
            {
                return Err(SourceError::OverCap { limit });
            }
            expect.take(n as u64)?;
            part.write(&buffer[..n]).map_err(SourceError::Write)?;
            progress.advance(n as u64);
        }
        let stamp = FileStamp::of(&before);
        let after = fs_err::metadata(path).map_err(read_err)?;
        if FileStamp::of(&after) != stamp {
            return Err(SourceError::Transport(format!(
                "`{}` changed while it was read",
                path.display()
            )));
        }
        Ok((
            part,
            Delivered {
                validators: None,
                combined: false,
                stamp: Some(stamp),
            },
        ))
    })
}
