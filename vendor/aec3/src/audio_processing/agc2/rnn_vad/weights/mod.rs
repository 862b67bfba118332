pub mod rnn_activations;
pub mod rnn_vad_weights;
