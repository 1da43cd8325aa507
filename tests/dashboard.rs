//! The dashboard in headless Chromium (to be written).
