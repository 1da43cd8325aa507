//! Catalog SQL for the pulls workflows.
