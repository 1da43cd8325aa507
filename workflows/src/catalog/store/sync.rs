//! Catalog SQL for the sync workflows.
