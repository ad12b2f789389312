//! The KEK given in `PDGATE_KEY` does not stay in `serve`'s environment.
//!
//! Removing the variable is not enough: `/proc/PID/environ` shows the block the process was started
//! with, whatever it changes later, and anyone who can read that file (the same user, root, a
//! crash or debug dump) reads the key. So `serve` started with the variable executes itself once
//! more, same process id and arguments, without it: the key crosses the `exec` in a socket on stdin
//! (which `serve` does not otherwise read), and the new process reads it from there and keeps it
//! only in zeroized memory. Where that cannot be done, the process says so and goes on as before.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;

use zeroize::Zeroizing;

/// The variable that holds the key itself.
pub(crate) const KEY_VAR: &str = "PDGATE_KEY";
/// Set (to `1`) for the process executed by [`reexec_without_key`]: its key is on stdin.
pub(crate) const ON_STDIN_VAR: &str = "PDGATE_KEY_ON_STDIN";

/// The most a key on stdin may be: 32 bytes in hex with a newline, with room for base64.
const MAX_KEY_TEXT: u64 = 256;

/// Whether this process should execute itself again: `serve` (`is_serve`) with the key in its
/// environment, not already the process that received it on stdin.
pub(crate) fn should_reexec(is_serve: bool) -> bool {
    is_serve && std::env::var_os(KEY_VAR).is_some() && std::env::var_os(ON_STDIN_VAR).is_none()
}

/// Executes this binary again with the same arguments, without `PDGATE_KEY` and with the key on
/// stdin. Returns only if that failed.
pub(crate) fn reexec_without_key() -> std::io::Error {
    let key = match std::env::var(KEY_VAR) {
        Ok(k) => Zeroizing::new(k),
        Err(_) => return std::io::Error::other("PDGATE_KEY is not valid UTF-8"),
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (reader, mut writer) = match std::os::unix::net::UnixStream::pair() {
        Ok(p) => p,
        Err(e) => return e,
    };
    // The socket's buffer holds the key until the new process reads it.
    if let Err(e) = writer.write_all(key.as_bytes()) {
        return e;
    }
    drop(writer);
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env_remove(KEY_VAR)
        .env(ON_STDIN_VAR, "1")
        .stdin(std::os::fd::OwnedFd::from(reader))
        .exec()
}

/// In the process [`reexec_without_key`] executed: the key, read from stdin to its end.
pub(crate) fn key_from_stdin() -> std::io::Result<Zeroizing<String>> {
    let mut key = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .take(MAX_KEY_TEXT)
        .read_to_string(&mut key)?;
    let trimmed = key.trim();
    if trimmed.is_empty() {
        return Err(std::io::Error::other("no key on stdin"));
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}
