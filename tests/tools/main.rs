//! The suites that drive an outside tool — headless Chromium (`console`), Schemathesis
//! (`api_fuzz`), libfaketime (`outage`), PostgreSQL's server binaries (`pg_restart`) — in one
//! binary on libtest-mimic, so a missing tool is reported as ignored at run time (and fails
//! under `CI=true`, which installs them all).
// Scenario tests read top to bottom; the 80-line rule (clippy.toml) is for production code.
#![allow(clippy::too_many_lines)]

mod api_fuzz;
mod console;
mod outage;
mod pg_restart;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let trials = vec![
        api_fuzz::trial(),
        console::trial(),
        outage::trial(),
        pg_restart::trial(),
    ];
    libtest_mimic::run(&args, trials).exit();
}
