//! The [`Stage`] trait: one step of processing, run on its own thread by a
//! [`Pipeline`](super::Pipeline) or called directly by the caller.

use std::time::Instant;

use crate::Result;

/// Anything that travels through a pipeline knows when it was captured, so every stage
/// and the pipeline exit can measure latency against the original capture instant.
pub trait Timestamped {
    /// When the media in this item was captured (microphone or camera).
    fn capture_time(&self) -> Instant;
}

/// One processing step. `process` may emit zero, one or several outputs per input (an
/// encoder that aggregates two 10 ms frames into one 20 ms packet emits every other call).
///
/// A stage used outside a pipeline is simply called in the caller's own loop.
pub trait Stage: Send + 'static {
    /// What the stage consumes.
    type Input: Timestamped + Send + 'static;
    /// What the stage produces.
    type Output: Timestamped + Send + 'static;

    /// Name used in stats and logs.
    fn name(&self) -> &'static str;

    /// Process one input, passing each output to `emit`. An error drops this input
    /// (counted) and the stage carries on with the next.
    fn process(&mut self, input: Self::Input, emit: &mut dyn FnMut(Self::Output)) -> Result<()>;

    /// Emit whatever the stage still holds (called once at drain shutdown).
    fn flush(&mut self, _emit: &mut dyn FnMut(Self::Output)) -> Result<()> {
        Ok(())
    }
}

/// A stage made from a closure returning at most one output per input.
pub struct FnStage<F, I, O> {
    name: &'static str,
    f: F,
    _types: std::marker::PhantomData<fn(I) -> O>,
}

/// Wrap a closure as a [`Stage`].
///
/// ```
/// use sottovoce::pipeline::{stage_fn, Stage};
/// use sottovoce::audio::AudioFrame;
/// let mut mute = stage_fn("mute", |mut f: AudioFrame| {
///     f.samples_mut().fill(0.0);
///     Ok(Some(f))
/// });
/// assert_eq!(mute.name(), "mute");
/// ```
pub fn stage_fn<F, I, O>(name: &'static str, f: F) -> FnStage<F, I, O>
where
    F: FnMut(I) -> Result<Option<O>> + Send + 'static,
{
    FnStage { name, f, _types: std::marker::PhantomData }
}

impl<F, I, O> Stage for FnStage<F, I, O>
where
    F: FnMut(I) -> Result<Option<O>> + Send + 'static,
    I: Timestamped + Send + 'static,
    O: Timestamped + Send + 'static,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &'static str {
        self.name
    }

    fn process(&mut self, input: I, emit: &mut dyn FnMut(O)) -> Result<()> {
        if let Some(out) = (self.f)(input)? {
            emit(out);
        }
        Ok(())
    }
}
