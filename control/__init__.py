"""Signal control and congestion for every intersection and link at once.

The pure NumPy core (arrays in, arrays out; no database, MQTT or settings):

* :mod:`control.pcu` -- Indonesian passenger-car units, saturation flow
* :mod:`control.webster` -- flow ratios, Webster's cycle, green splits, pedestrian green
* :mod:`control.delay` -- capacity, degree of saturation, HCM delay, LOS, MKJI queues, stops
* :mod:`control.constraints` -- plan-to-plan limits, controller resolution, the validator
* :mod:`control.coordination` -- green-wave offsets and bandwidth along corridors
* :mod:`control.congestion` -- link speeds (detectors, GPS probes), fusion, TTI,
  congestion level, jam factor, queues, anomaly flag
* :mod:`control.pipeline` -- the whole timing pipeline (:func:`plan_signals`)
* :mod:`control._reference` -- scalar reference implementations (test oracle, bench baseline)

At the edges: :mod:`control.planning` (inventory and counts to the core's arrays)
and :mod:`control.cli` (``tlive plan``); the adaptive loop service builds on the core.
"""
