//! Progress display for long CLI operations: indicatif bars on a terminal, plain lines elsewhere.

use std::io::IsTerminal;
use std::time::Duration;

use dongbo_engine::BackgroundJob;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Shows one job's progress.
pub(crate) struct JobProgress {
    bar: Option<ProgressBar>,
    label: String,
    last_line: Option<(i64, String)>,
}

impl JobProgress {
    /// A display for a job labelled `label`.
    pub(crate) fn new(label: &str) -> JobProgress {
        Self::build(label, None)
    }

    /// A display that shares the terminal with others in `group`.
    pub(crate) fn in_group(group: &MultiProgress, label: &str) -> JobProgress {
        Self::build(label, Some(group))
    }

    fn build(label: &str, group: Option<&MultiProgress>) -> JobProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match group {
                Some(g) => g.add(ProgressBar::new(0)),
                None => ProgressBar::new(0),
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>22} [{bar:32.cyan/blue}] {pos}/{len} {per_sec:>10} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        JobProgress { bar, label: label.to_owned(), last_line: None }
    }

    /// Shows the job's current row.
    pub(crate) fn update(&mut self, job: &BackgroundJob) {
        let status = job.status.as_str().to_owned();
        match &self.bar {
            Some(bar) => {
                bar.set_length(job.total.unwrap_or(0).max(job.processed).max(0) as u64);
                bar.set_position(job.processed.max(0) as u64);
                bar.set_message(status);
            }
            None => {
                let line = (job.processed, status);
                if self.last_line.as_ref() != Some(&line) {
                    let total = job.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
                    eprintln!("{}: {}/{} {}", self.label, line.0, total, line.1);
                    self.last_line = Some(line);
                }
            }
        }
    }

    /// Prints a note above the bar.
    pub(crate) fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Leaves the bar on screen, finished.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
