//! The LB state machines: verdicts in, states and transitions with the cloud's reason codes out.
