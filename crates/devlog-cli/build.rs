//! Release builds of `devlog` on x86-64 Linux link the functions its everyday commands run
//! next to each other (`link/devlog.order`, written by `link/make_order.py`): the kernel maps
//! an executable's code in 64 KiB windows as it runs, so code scattered over the file makes
//! far more of it resident than the ~3 MiB that runs (issue 15, target 4; docs/performance.md
//! "Code in the order it runs"). The order only moves functions; a name it lists that the
//! build does not have (another toolchain or dependency version) is skipped by the linker.
//!
//! It needs the LLD linker, which Rust uses by default on x86-64 Linux since 1.90 (the
//! workspace needs 1.95). Set `DEVLOG_LINK_ORDER=off` to link without it, e.g. with another
//! linker; a build with a linker chosen in RUSTFLAGS or `CARGO_TARGET_*_LINKER` leaves it out
//! by itself.

use std::env;
use std::path::Path;

const ORDER: &str = "link/devlog.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=DEVLOG_LINK_ORDER");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let target = env::var("TARGET").unwrap_or_default();
    if !release || target != "x86_64-unknown-linux-gnu" {
        return;
    }
    if env::var("DEVLOG_LINK_ORDER").as_deref() == Ok("off") {
        return;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker")
        || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
    {
        println!(
            "cargo:warning=devlog: another linker was chosen, so the code is linked without \
             link/devlog.order (a larger resident set; DEVLOG_LINK_ORDER=off silences this)"
        );
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&dir).join(ORDER);
    let Ok(text) = std::fs::read_to_string(&order) else {
        println!(
            "cargo:warning=devlog: {} is missing; linking without it",
            order.display()
        );
        return;
    };
    if let Some(stale) = stale(&text, Path::new(&dir)) {
        println!(
            "cargo:warning=devlog: link/devlog.order was made for {stale}; most of its names \
             will not match this build, so more of the code stays resident. Run \
             crates/devlog-cli/link/make_order.py again (docs/performance.md)"
        );
    }
    for arg in [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ] {
        println!("cargo:rustc-link-arg-bin=devlog={arg}");
    }
    // Packed relative relocations (DT_RELR): the loader reads a few KiB instead of the 2.3 MB
    // of `.rela.dyn` that a position-independent `devlog` otherwise carries, and whose pages
    // stay resident. The program then needs glibc 2.36 or later to start, so only when the
    // glibc it is built against has it (a build for this machine).
    if env::var("HOST").as_deref() == Ok(target.as_str()) && glibc_has_relr() {
        println!("cargo:rustc-link-arg-bin=devlog=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc (`getconf GNU_LIBC_VERSION`: "glibc 2.36") is 2.36 or later.
fn glibc_has_relr() -> bool {
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}

/// What the order file was made for, when that is not this build: its `# rustc:` line against
/// `$RUSTC -V`, its `# Cargo.lock:` line against the lock file's fingerprint.
fn stale(text: &str, manifest_dir: &Path) -> Option<String> {
    let stamp = |key: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(key).map(str::trim).map(str::to_string))
    };
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let (Some(made), Some(now)) = (stamp("# rustc:"), version)
        && made != now
    {
        return Some(format!("`{made}`, not `{now}`"));
    }
    let lock = manifest_dir.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let lock = std::fs::read(lock).ok()?;
    let made = stamp("# Cargo.lock:")?;
    let now = fingerprint(&lock);
    (made != now).then(|| format!("another Cargo.lock ({made}, this one is {now})"))
}

/// The lock file's 64-bit FNV-1a hash in hex (what make_order.py writes): a fingerprint, not
/// a checksum against tampering.
fn fingerprint(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}
