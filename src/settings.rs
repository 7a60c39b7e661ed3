//! Every environment variable crp reads, in one place.
//!
//! An empty variable counts as unset — `CRP_STORE=` names no store, as an
//! empty `NO_COLOR` asks for nothing — so CI templates that pass variables
//! through unconditionally behave like ones that leave them out. A value
//! that does not parse is invalid input: [`check`] names it before a
//! command does any work (exit 2), and the readers below, called later and
//! deeper, fall back to the default for what `check` already refused.

use std::ffi::OsString;
use std::time::Duration;

use crate::units::Size;

/// The store (`--store` wins over it).
pub const STORE: &str = "CRP_STORE";
/// Downloads at once (`--jobs` wins over it).
pub const JOBS: &str = "CRP_JOBS";
/// Seconds to connect, and to wait for each piece of a response.
pub const HTTP_TIMEOUT: &str = "CRP_HTTP_TIMEOUT";
/// The slowest transfer crp keeps waiting for, in bytes per second (`0`
/// turns the floor off).
pub const HTTP_MIN_RATE: &str = "CRP_HTTP_MIN_RATE";
/// The window over which [`HTTP_MIN_RATE`] is measured.
pub const HTTP_MIN_RATE_TIME: &str = "CRP_HTTP_MIN_RATE_TIME";
/// Seconds to wait for another process's lock.
pub const LOCK_TIMEOUT: &str = "CRP_LOCK_TIMEOUT";
/// Who is acting, for records and events (else the login name).
pub const ACTOR: &str = "CRP_ACTOR";
/// The transmission-daemon's RPC URL (see the README's Torrents section).
pub const TRANSMISSION_URL: &str = "CRP_TRANSMISSION_URL";
/// The daemon's RPC user name, and its password (the README's Torrents
/// section; the store's `config.toml` can say them too).
pub const TRANSMISSION_USER: &str = "CRP_TRANSMISSION_USER";
pub const TRANSMISSION_PASSWORD: &str = "CRP_TRANSMISSION_PASSWORD";
/// Seconds to wait for the daemon's answers.
pub const TRANSMISSION_TIMEOUT: &str = "CRP_TRANSMISSION_TIMEOUT";

// Read, but not crp's own.
/// The login name, for records and events when [`ACTOR`] is unset.
pub const USER: &str = "USER";
/// The login name when [`USER`] is unset too.
pub const LOGNAME: &str = "LOGNAME";
/// Any non-empty value turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Where `transmission-daemon` is looked for.
pub const PATH: &str = "PATH";
/// The finished torrent, as transmission-daemon gives it to
/// `crp hook torrent-done` (its `script-torrent-done` environment).
pub const TR_TORRENT_HASH: &str = "TR_TORRENT_HASH";
/// The finished torrent's name (see [`TR_TORRENT_HASH`]).
pub const TR_TORRENT_NAME: &str = "TR_TORRENT_NAME";

/// Defaults, documented in the README's configuration table.
/// A remote's credentials and defaults, as the AWS tools read them (see
/// `crate::s3::credentials` and [`crate::remote::Remote::new`]).
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const AWS_PROFILE: &str = "AWS_PROFILE";
pub const AWS_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
pub const AWS_CONFIG_FILE: &str = "AWS_CONFIG_FILE";
pub const AWS_REGION: &str = "AWS_REGION";
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// The home folder, where `~/.aws/` is.
pub const HOME: &str = "HOME";

pub const DEFAULT_JOBS: u16 = 8;
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MIN_RATE: u64 = 1024;
pub const DEFAULT_MIN_RATE_TIME: Duration = Duration::from_secs(60);
/// An hour: the holder may be downloading something large.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3600);

/// A variable that is set to something unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}={value}` is not valid: {reason}")]
pub struct InvalidSetting {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

impl InvalidSetting {
    pub fn hint(&self) -> String {
        format!(
            "fix or unset `{}`; the README's Configuration section lists every variable",
            self.name
        )
    }
}

/// The variable's value, or `None` when it is unset or empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Like [`var`], for values that need not be UTF-8 (paths).
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Checks every numeric setting, so a typo is reported before any work.
pub fn check() -> Result<(), InvalidSetting> {
    jobs()?;
    seconds(HTTP_TIMEOUT, DEFAULT_HTTP_TIMEOUT, false)?;
    seconds(HTTP_MIN_RATE_TIME, DEFAULT_MIN_RATE_TIME, false)?;
    seconds(LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT, true)?;
    seconds(TRANSMISSION_TIMEOUT, Duration::ZERO, false)?;
    min_rate_bytes()?;
    if let Some(text) = var(TRANSMISSION_URL) {
        match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(invalid(
                    TRANSMISSION_URL,
                    &crate::redact::text(&text),
                    "expected an http:// or https:// URL of the daemon's RPC",
                ));
            }
        }
    }
    Ok(())
}

/// `CRP_TRANSMISSION_TIMEOUT`, when set.
pub fn transmission_timeout() -> Option<Duration> {
    var(TRANSMISSION_TIMEOUT)?;
    seconds(TRANSMISSION_TIMEOUT, Duration::ZERO, false).ok()
}

/// `CRP_JOBS`: a whole number from 1.
pub fn jobs() -> Result<u16, InvalidSetting> {
    let Some(text) = var(JOBS) else {
        return Ok(DEFAULT_JOBS);
    };
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| invalid(JOBS, &text, "expected a whole number from 1 to 65535"))
}

/// `CRP_HTTP_TIMEOUT`, 30 s by default.
pub fn http_timeout() -> Duration {
    seconds(HTTP_TIMEOUT, DEFAULT_HTTP_TIMEOUT, false).unwrap_or(DEFAULT_HTTP_TIMEOUT)
}

/// `CRP_LOCK_TIMEOUT`, an hour by default; `0` gives up at once.
pub fn lock_timeout() -> Duration {
    seconds(LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT, true).unwrap_or(DEFAULT_LOCK_TIMEOUT)
}

/// The transfer-rate floor: at least `bytes_per_second` over every `window`,
/// or the source counts as failed. `None` when turned off
/// (`CRP_HTTP_MIN_RATE=0`). Like curl's `--speed-limit` and `--speed-time`.
pub fn min_rate() -> Option<(u64, Duration)> {
    let rate = min_rate_bytes().unwrap_or(DEFAULT_MIN_RATE);
    let window =
        seconds(HTTP_MIN_RATE_TIME, DEFAULT_MIN_RATE_TIME, false).unwrap_or(DEFAULT_MIN_RATE_TIME);
    (rate > 0).then_some((rate, window))
}

fn min_rate_bytes() -> Result<u64, InvalidSetting> {
    let Some(text) = var(HTTP_MIN_RATE) else {
        return Ok(DEFAULT_MIN_RATE);
    };
    // `1KiB`, `1 KiB/s` and `1024` all mean the same.
    let bytes = text.trim().trim_end_matches("/s");
    bytes
        .parse::<Size>()
        .map(|s| s.0)
        .map_err(|reason| invalid(HTTP_MIN_RATE, &text, &reason))
}

/// A duration written as seconds (`30`, `2.5`) or with a unit (`90s`, `10m`).
fn seconds(
    name: &'static str,
    default: Duration,
    zero_ok: bool,
) -> Result<Duration, InvalidSetting> {
    parse_seconds(name, var(name), default, zero_ok)
}

fn parse_seconds(
    name: &'static str,
    value: Option<String>,
    default: Duration,
    zero_ok: bool,
) -> Result<Duration, InvalidSetting> {
    let Some(text) = value else {
        return Ok(default);
    };
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) => Some(Duration::from_secs_f64(s)),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(trimmed).ok(),
    };
    match parsed {
        Some(d) if zero_ok || !d.is_zero() => Ok(d),
        _ => Err(invalid(
            name,
            &text,
            if zero_ok {
                "expected a number of seconds (or a duration like `90s` or `10m`)"
            } else {
                "expected a positive number of seconds (or a duration like `90s` or `10m`)"
            },
        )),
    }
}

fn invalid(name: &'static str, value: &str, reason: &str) -> InvalidSetting {
    InvalidSetting {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_or_with_units() {
        let parse = |v: Option<&str>, zero_ok| {
            parse_seconds(
                LOCK_TIMEOUT,
                v.map(str::to_owned),
                DEFAULT_LOCK_TIMEOUT,
                zero_ok,
            )
        };
        assert_eq!(
            parse(None, true),
            Ok(Duration::from_secs(3600)),
            "the default"
        );
        assert_eq!(parse(Some("2.5"), true), Ok(Duration::from_millis(2500)));
        assert_eq!(parse(Some(" 90s "), true), Ok(Duration::from_secs(90)));
        assert_eq!(parse(Some("10m"), true), Ok(Duration::from_secs(600)));
        assert_eq!(parse(Some("0"), true), Ok(Duration::ZERO));
        assert!(
            parse(Some("0"), false).is_err(),
            "no zero timeouts for HTTP"
        );
        for bad in ["-1", "soon", "1e99", "NaN", "inf"] {
            let err = parse(Some(bad), true).unwrap_err();
            assert_eq!(err.name, LOCK_TIMEOUT);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
