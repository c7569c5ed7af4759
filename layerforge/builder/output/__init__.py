"""What a build leaves: the cache of finished builds, the zip and manifest put in place as one
unit, and the one reader of a layer's manifest."""
