pub mod push_sinc_resampler;
pub mod sinc_resampler;
