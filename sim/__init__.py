"""The synthetic city: inventories, devices that publish like the real ones, replay, load.

- :mod:`sim.city` generates a plausible Kota Tangerang inventory; :mod:`sim.osm` builds
  one from a real OpenStreetMap extract.
- :mod:`sim.profiles` (SCATS-calibrated demand), :mod:`sim.atcs` (detectors, signals),
  :mod:`sim.parking` (bay sensors), :mod:`sim.fleet` (waste-truck trackers).
- :mod:`sim.engine` merges the devices in time order; :mod:`sim.publish` publishes them
  (QoS 1, paced by speed-up or target rate); :mod:`sim.replay` rebuilds stored messages.
- :mod:`sim.cli` holds ``tlive inventory ...`` and ``tlive sim ...`` (``sim_app``, which
  the SUMO twin extends).
"""
