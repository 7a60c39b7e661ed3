//! Where a remote's credentials come from: the environment or the standard
//! AWS credential files, in the order the AWS tools look.
//!
//! 1. A remote with a `profile`: that profile of the credential files.
//! 2. `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
//!    `AWS_SESSION_TOKEN` when set).
//! 3. The profile `AWS_PROFILE` names, else `default`, of the credential
//!    files.
//! 4. None: requests go unsigned (a public bucket).
//!
//! A profile whose credentials the AWS tools get elsewhere
//! (`credential_process`, single sign-on, an assumed role) is an error that
//! says how to export them: crp runs no program a file names.
//!
//! The credential files are `AWS_SHARED_CREDENTIALS_FILE` (default
//! `~/.aws/credentials`, sections `[name]`) and `AWS_CONFIG_FILE` (default
//! `~/.aws/config`, sections `[profile name]` and `[default]`), with the
//! keys `aws_access_key_id`, `aws_secret_access_key` and
//! `aws_session_token`. A secret is never printed: what people see is
//! [`Found::origin`].

use std::path::{Path, PathBuf};

use rusty_s3::Credentials;

/// The largest credential file read: far more than any holds.
const MAX_FILE: u64 = 1 << 20;

/// Credentials found, and where.
#[derive(Debug, Clone)]
pub struct Found {
    pub credentials: Option<Credentials>,
    /// Where they came from, for people: `environment (AWS_ACCESS_KEY_ID)`,
    /// `profile \`crp\` of ~/.aws/credentials`, `none (unsigned requests)`.
    pub origin: String,
}

/// Finds the credentials for a remote with `profile` (its `profile` key).
///
/// # Errors
/// A profile that was asked for by name (the remote's, or `AWS_PROFILE`)
/// and is in neither file, or a credential file that cannot be read.
pub fn find(profile: Option<&str>) -> Result<Found, String> {
    use crate::settings::{
        AWS_ACCESS_KEY_ID, AWS_CONFIG_FILE, AWS_PROFILE, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
        AWS_SHARED_CREDENTIALS_FILE, var as env,
    };
    match (profile, env(AWS_ACCESS_KEY_ID), env(AWS_SECRET_ACCESS_KEY)) {
        (None, Some(_), None) => {
            return Err("`AWS_ACCESS_KEY_ID` is set, but `AWS_SECRET_ACCESS_KEY` is not".into());
        }
        (None, None, Some(_)) => {
            return Err("`AWS_SECRET_ACCESS_KEY` is set, but `AWS_ACCESS_KEY_ID` is not".into());
        }
        _ => {}
    }
    if profile.is_none()
        && let (Some(key), Some(secret)) = (env(AWS_ACCESS_KEY_ID), env(AWS_SECRET_ACCESS_KEY))
    {
        let credentials = match env(AWS_SESSION_TOKEN) {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        };
        return Ok(Found {
            credentials: Some(credentials),
            origin: "environment (AWS_ACCESS_KEY_ID)".into(),
        });
    }
    let named = profile.map(str::to_owned).or_else(|| env(AWS_PROFILE));
    let wanted = named.clone().unwrap_or_else(|| "default".to_owned());
    let home = crate::settings::var_os(crate::settings::HOME).map(PathBuf::from);
    let files = [
        (
            env(AWS_SHARED_CREDENTIALS_FILE)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials"))),
            false,
        ),
        (
            env(AWS_CONFIG_FILE)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws/config"))),
            true,
        ),
    ];
    // A profile whose credentials come from somewhere crp does not go.
    let mut provider: Option<(&str, PathBuf)> = None;
    // A profile with half a key pair.
    let mut half: Option<(&str, PathBuf)> = None;
    // The files looked in, as a message names them: one that is not there
    // (a mistyped `AWS_SHARED_CREDENTIALS_FILE`, say) is said to be absent.
    let mut looked: Vec<String> = Vec::new();
    for (path, is_config) in files {
        let Some(path) = path else { continue };
        // Bounded: whatever the variable names (`/dev/zero`, say).
        let text = match crate::fsutil::read_bounded(&path, MAX_FILE) {
            Ok(bytes) => {
                looked.push(shown(&path));
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                looked.push(format!("{}, which is not there", shown(&path)));
                continue;
            }
            Err(err) => {
                return Err(format!(
                    "cannot read `{}`: {}",
                    shown(&path),
                    crate::fsutil::without_path(&err)
                ));
            }
        };
        let section = match (is_config, wanted.as_str()) {
            (true, "default") => "default".to_owned(),
            (true, name) => format!("profile {name}"),
            (false, name) => name.to_owned(),
        };
        let keys = profile_keys(&text, &section);
        if let (Some(key), Some(secret)) = (
            keys.get("aws_access_key_id"),
            keys.get("aws_secret_access_key"),
        ) {
            let credentials = match keys.get("aws_session_token") {
                Some(token) => Credentials::new_with_token(key, secret, token),
                None => Credentials::new(key, secret),
            };
            return Ok(Found {
                credentials: Some(credentials),
                origin: format!("profile `{wanted}` of {}", shown(&path)),
            });
        }
        if provider.is_none()
            && let Some(key) = PROVIDER_KEYS.iter().find(|k| keys.contains_key(**k))
        {
            provider = Some((key, path.clone()));
        }
        if half.is_none()
            && let Some(key) = ["aws_access_key_id", "aws_secret_access_key"]
                .into_iter()
                .find(|k| keys.contains_key(*k))
        {
            half = Some((key, path.clone()));
        }
    }
    if let Some((key, path)) = provider {
        let how = match profile {
            // The remote names it, and a remote's profile comes before the
            // environment: exporting would not help.
            Some(_) => "give that profile `aws_access_key_id` and `aws_secret_access_key`, or take `profile` out of the remote so that the environment's credentials are used".to_owned(),
            None => format!(
                "export them first (`eval \"$(aws configure export-credentials {} --format env)\"`), or give the profile `aws_access_key_id` and `aws_secret_access_key`",
                // A name that starts like an option is joined to its flag.
                match wanted.starts_with('-') {
                    true => format!("--profile={}", crate::fsutil::shell_word(&wanted)),
                    false => format!("--profile {}", crate::fsutil::shell_word(&wanted)),
                }
            ),
        };
        return Err(format!(
            "the AWS profile `{wanted}` gets its credentials through `{key}` (in {}), which crp does not use; {how}",
            shown(&path)
        ));
    }
    if let Some((key, path)) = half {
        return Err(format!(
            "the AWS profile `{wanted}` in {} has `{key}` without its pair (`aws_access_key_id` and `aws_secret_access_key` go together)",
            shown(&path)
        ));
    }
    if looked.is_empty() {
        looked.push("none: `HOME` is not set".into());
    }
    match named {
        Some(name) => Err(format!(
            "the AWS profile `{name}` has no `aws_access_key_id` and `aws_secret_access_key` in the credential files ({}; `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` name others)",
            looked.join("; ")
        )),
        None => Ok(Found {
            credentials: None,
            origin: "none (unsigned requests)".into(),
        }),
    }
}

/// Keys of a profile whose credentials the AWS tools get from elsewhere:
/// a program, single sign-on, an assumed role, a web identity.
const PROVIDER_KEYS: &[&str] = &[
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
    "credential_source",
];

/// `~/…` for a path under the home folder.
fn shown(path: &Path) -> String {
    match crate::settings::var_os(crate::settings::HOME).map(PathBuf::from) {
        Some(home) if path.starts_with(&home) => {
            format!("~/{}", path.strip_prefix(&home).unwrap_or(path).display())
        }
        _ => path.display().to_string(),
    }
}

/// The `key = value` pairs of section `[section]` of an INI text, keys
/// lowercased; later sections of the same name add to earlier ones.
fn profile_keys(text: &str, section: &str) -> std::collections::BTreeMap<String, String> {
    let mut keys = std::collections::BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.split_whitespace().collect::<Vec<_>>().join(" ") == section;
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            keys.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::profile_keys;

    #[test]
    fn reads_a_profile_of_an_ini_file() {
        let text = "[default]\naws_access_key_id = A\n# note\n[profile crp]\nAWS_Access_Key_Id=B\naws_secret_access_key = S = T\n[other]\naws_access_key_id = C\n";
        assert_eq!(profile_keys(text, "default")["aws_access_key_id"], "A");
        let crp = profile_keys(text, "profile crp");
        assert_eq!(crp["aws_access_key_id"], "B");
        assert_eq!(crp["aws_secret_access_key"], "S = T");
        assert!(profile_keys(text, "missing").is_empty());
    }
}
