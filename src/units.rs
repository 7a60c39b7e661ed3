//! Human-readable quantities.

use std::fmt;

/// `n` and a noun, plural unless `n` is one: "1 object", "2 objects".
pub fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A byte count shown in binary units: `512 B`, `22.4 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteCount(pub u64);

impl fmt::Display for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        // Padded as a whole, so columns of sizes line up (`{:>10}`).
        if self.0 < 1024 {
            return f.pad(&format!("{} B", self.0));
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        f.pad(&format!("{value:.1} {}", UNITS[unit]))
    }
}

/// A byte count as people write it in settings: `1000000`, `"1 GB"`,
/// `"512 MiB"`. Decimal units are powers of 1000, binary ones of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a size: write a number of bytes, or `10 GB`"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" | "k" => 1000,
            "mb" | "m" => 1000_u64.pow(2),
            "gb" | "g" => 1000_u64.pow(3),
            "tb" | "t" => 1000_u64.pow(4),
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{s}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
                ));
            }
        };
        Ok(Self((number * factor as f64).round() as u64))
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bytes(n) => Ok(Self(n)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for Size {
    /// The shortest exact decimal form: `1 GB`, `1500 MB`, `123 B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1_000_000_000_000, "TB"),
            (1_000_000_000, "GB"),
            (1_000_000, "MB"),
            (1000, "KB"),
        ];
        for (factor, unit) in UNITS {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{} {unit}", self.0 / factor);
            }
        }
        write!(f, "{} B", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, n) in [
            ("1 GB", 1_000_000_000),
            ("1GB", 1_000_000_000),
            ("512 MiB", 512 << 20),
            ("1.5 kb", 1500),
            ("42", 42),
        ] {
            assert_eq!(text.parse::<Size>(), Ok(Size(n)), "{text}");
        }
        assert!("ten GB".parse::<Size>().is_err());
        assert!("1 XB".parse::<Size>().is_err());
        assert_eq!(Size(1_000_000_000).to_string(), "1 GB");
        assert_eq!(Size(1_500_000).to_string(), "1500 KB");
        assert_eq!(Size(7).to_string(), "7 B");
    }

    #[test]
    fn byte_counts_line_up_in_columns() {
        assert_eq!(format!("[{:>9}]", ByteCount(14)), "[     14 B]");
        assert_eq!(format!("[{:>9}]", ByteCount(5012)), "[  4.9 KiB]");
        assert_eq!(format!("[{:<6}]", ByteCount(3)), "[3 B   ]");
        assert_eq!(count(1, "object"), "1 object");
        assert_eq!(count(0, "object"), "0 objects");
    }

    #[test]
    fn formats() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (23_456_789, "22.4 MiB"),
            (1 << 30, "1.0 GiB"),
        ];
        for (n, s) in cases {
            assert_eq!(ByteCount(n).to_string(), s);
        }
    }
}
