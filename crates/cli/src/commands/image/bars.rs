//! Progress bars (indicatif) for pull and push: one bar per blob, on
//! stderr, only when it is a terminal (scripts get no bar noise).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use berth_image::progress::{Event, Phase, ProgressFn};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// A progress callback drawing bars, or `None` when quiet or not on a terminal.
pub fn for_terminal(quiet: bool) -> Option<ProgressFn> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let multi = MultiProgress::new();
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    let style =
        ProgressStyle::with_template("{prefix:.bold} {msg:12} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    Some(ProgressFn(Arc::new(move |e: &Event| {
        let Ok(mut bars) = bars.lock() else { return };
        let bar = bars.entry(e.digest.clone()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new(e.total.unwrap_or(0)));
            b.set_style(style.clone());
            let hex = e.digest.trim_start_matches("sha256:");
            b.set_prefix(hex[..hex.len().min(12)].to_string());
            b
        });
        if let Some(t) = e.total {
            bar.set_length(t);
        }
        match e.phase {
            Phase::Download => bar.set_message("Downloading"),
            Phase::Upload => bar.set_message("Pushing"),
            Phase::Unpack => bar.set_message("Extracting"),
            Phase::Exists => bar.finish_with_message("Already exists"),
            Phase::Mounted => bar.finish_with_message("Mounted"),
            Phase::Done => bar.finish_with_message("Complete"),
        }
        if e.phase != Phase::Done {
            bar.set_position(e.current);
        }
    })))
}
