//! Standard output and standard error: every byte crp prints goes through
//! here, with every URL redacted (see [`crate::redact::text`]). The bottom
//! of the printing stack: [`crate::progress`] and [`crate::report`] build
//! on it.

/// Writes to stdout, like `print!`, with every URL redacted (see
/// [`crate::redact::text`]). A closed pipe (`crp dag | head -c1`) is not an
/// error: the reader has seen enough, and the command still ends with its
/// own exit status.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = std::io::stdout()
            .lock()
            .write_all($crate::redact::text(&text).as_bytes());
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut text = format!($($arg)*);
        text.push('\n');
        $crate::stdio::out!("{text}");
    }};
}

/// Writes a line to stderr, like `eprintln!`, with every URL redacted and
/// a closed stream ignored.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut text = format!($($arg)*);
        text.push('\n');
        let _ = std::io::stderr()
            .lock()
            .write_all($crate::redact::text(&text).as_bytes());
    }};
}

pub(crate) use {errln, out, outln};

/// Standard error for the debug log (`-v`): each event is written whole,
/// once its URLs are redacted, like everything else crp prints.
#[derive(Debug, Default)]
pub struct LogWriter(Vec<u8>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::Write::write_all(
            &mut std::io::stderr().lock(),
            crate::redact::text(&text).as_bytes(),
        );
    }
}
