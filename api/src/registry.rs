//! The job types this binary runs.

use dongbo_engine::example::ExampleCount;
use dongbo_engine::Registry;

/// Every workflow this build knows.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(ExampleCount);
    r
}
