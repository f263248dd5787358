"""The coordinators' dashboard: pages (``views``), login links (``auth``) and the feature
that mounts them (``feature``)."""
