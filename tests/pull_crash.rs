//! Crash-and-resume test of the pull workflows in real processes (to be written).
