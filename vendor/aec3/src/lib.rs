pub mod api;
pub mod audio_processing;
pub mod graph;
pub mod nodes;
pub mod pipelines;
#[cfg(test)]
pub mod test_support;
