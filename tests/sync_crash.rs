//! Crash-and-resume test of the sync workflows in real processes (to be written).
