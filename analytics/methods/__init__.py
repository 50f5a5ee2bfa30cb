"""Statistical methods over merged sketches: one small module per method, one registry.

Every method takes :class:`~analytics.methods.base.Binned` (current and reference
histograms of many (feature, window) groups at once) and returns a
:class:`~analytics.methods.base.MethodResult` of numpy arrays: score, lower,
upper (the interval the sketch allows), p_value, threshold, drifted.
See :mod:`analytics.methods.registry` to add your own.
"""
