"""The pacing core: how many calls to place now, and why.

Pure functions and small stateful objects over numpy arrays; no I/O, no clock (``now`` comes in
the snapshot). The live engine and the virtual-time simulator (:mod:`pacing.sim`) run the same
code:

- :mod:`pacing.snapshot`: what a campaign looks like at one instant (agents, calls in flight).
- :mod:`pacing.events`: what the policies learn from (call and agent outcomes).
- :mod:`pacing.estimators`: answer rate, routing rate, ring/talk/ACW/pause distributions.
- :mod:`pacing.policies`: preview, progressive, predictive, agentless and the baselines.
- :mod:`pacing.guard`: the compliance guard around every policy (abandon cap, ring floor,
  trunk channels and calls per second).
- :mod:`pacing.decision`: the explained decision record and the per-campaign log.
- :mod:`pacing.inbound`, :mod:`pacing.blend`: inbound queues on the same agents (Erlang C, the
  blended pool's idle-agent reserve) and the wrapper that offers outbound only the rest
  (docs/blending.md).
"""
