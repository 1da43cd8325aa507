//! Crash-and-resume test of the match workflows in real processes (to be written).
