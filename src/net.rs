//! What the HTTP and RPC clients share: how a failed request is put in
//! words.

use crate::source::redact_url;

/// What went wrong in a request, in words. reqwest's own message ("error
/// sending request for url (…)") repeats the URL the report already names;
/// the causes say what went wrong.
pub fn describe_reqwest_error(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let mut text = if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    };
    if err.is_timeout() && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    if let Some(url) = err.url() {
        // Keep credentials out of whatever still names the URL.
        text = text.replace(url.as_str(), &redact_url(url));
    }
    text
}
