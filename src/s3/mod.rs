//! Speaking to remotes (see [`crate::remote`]): the S3 REST API, signed by
//! `rusty-s3` (AWS Signature Version 4) and sent by `reqwest`.
//!
//! [`credentials`] finds what to sign with, [`client`] makes the requests
//! and names each failure with its remote and what to do, and [`push`]
//! uploads objects, resumably.

pub mod client;
pub mod credentials;
pub mod pull;
pub mod push;

pub use client::{Client, RemoteError};

/// The `remotes` (as [`crate::remote::configured`] orders them) that
/// answer, each checked once (concurrently); one that does not is left out
/// with a warning that says why, so a run goes on from mirrors and sources.
/// One of the same service as a remote in `failed` (found unusable earlier
/// in the run, and said to be then, with why) is left out unasked.
pub async fn connect(
    mut remotes: Vec<crate::remote::Remote>,
    messages: &dyn crate::progress::Messages,
    allowed: impl Fn(&crate::remote::Remote) -> Result<(), String>,
    failed: &[(crate::remote::Remote, String)],
) -> Connected {
    let mut left_out = Vec::new();
    remotes.retain(
        |remote| match failed.iter().find(|(other, _)| other.same_service(remote)) {
            Some((_, why)) => {
                left_out.push(why.clone());
                false
            }
            None => true,
        },
    );
    // A remote the caller rules out is never contacted, not even checked.
    remotes.retain(|remote| match allowed(remote) {
        Ok(()) => true,
        Err(why) => {
            let why = format!("remote `{}`: {why}", remote.name);
            messages.warn(&format!("{why}; going on without it"));
            left_out.push(why);
            false
        }
    });
    let mut set = tokio::task::JoinSet::new();
    for (i, remote) in remotes.into_iter().enumerate() {
        set.spawn(async move {
            let checked = async {
                let client = Client::new(&remote)?;
                client.check().await?;
                Ok::<_, RemoteError>(client)
            };
            (i, checked.await)
        });
    }
    let mut results = set.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    let mut clients = Vec::new();
    for (_, result) in results {
        match result {
            Ok(client) => clients.push(client),
            Err(err) => {
                let hint = err.hint().map(|h| format!(" ({h})")).unwrap_or_default();
                messages.warn(&format!("{err}; going on without it{hint}"));
                left_out.push(err.to_string());
            }
        }
    }
    Connected { clients, left_out }
}

/// The remotes a run asks, and why the others are left out.
#[derive(Debug, Default)]
pub struct Connected {
    /// The remotes that answered, in the order they are tried.
    pub clients: Vec<Client>,
    /// For each remote left out, why: the policy rules it out, or it did
    /// not answer (the remote named).
    pub left_out: Vec<String>,
}
