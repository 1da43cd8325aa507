//! Catalog SQL for the matching workflows.
