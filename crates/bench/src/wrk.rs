//! Driving a server with `wrk` (Debian's `wrk`): a Lua script cycling
//! through request bodies, and the figures wrk prints.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, bail};

/// The bearer token the scripts send.
pub const TOKEN: &str = "bench-token";

fn lua_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A wrk script that cycles through `bodies`.
fn script(path: &str, bodies: &[String]) -> String {
    let mut out = String::from("local bodies = {\n");
    for b in bodies {
        let _ = writeln!(out, "  {},", lua_string(b));
    }
    let _ = write!(
        out,
        "}}\nlocal i = 0\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\n\
         request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, {}, nil, bodies[i])\nend\n",
        lua_string(path)
    );
    out
}

/// What one wrk run measured.
pub struct WrkResult {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, as wrk prints it.
    pub p50: String,
    /// 99th percentile latency, as wrk prints it.
    pub p99: String,
    /// Responses that were not 2xx.
    pub non_2xx: u64,
}

/// Runs wrk against `base` + `path` for `seconds` with `connections`
/// connections on one thread, cycling through `bodies`.
pub fn wrk(base: &str, path: &str, bodies: &[String], seconds: u64, connections: u64) -> anyhow::Result<WrkResult> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.lua");
    std::fs::write(&file, script(path, bodies))?;
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&file)
        .arg(base)
        .output()
        .context("cannot run wrk; install it with `apt-get install wrk`")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.split_whitespace().next().unwrap_or("").to_owned()))
    };
    let rps = field("Requests/sec:").context("wrk printed no Requests/sec")?.parse()?;
    let non_2xx = field("Non-2xx or 3xx responses:").map(|v| v.parse().unwrap_or(0)).unwrap_or(0);
    Ok(WrkResult { rps, p50: field("50%").unwrap_or_default(), p99: field("99%").unwrap_or_default(), non_2xx })
}

/// wrk's latency text (`812.00us`, `1.23ms`, `2.01s`) in microseconds.
pub fn micros(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => f64::NAN,
    }
}
