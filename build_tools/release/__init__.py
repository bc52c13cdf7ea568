"""Releases: versions and tags, changelog entries, cutting a release, publishing its image.

`versioning` and `tags` are pure rules; `changelog` reads and writes `_changelog/`;
`cut` bumps, commits and tags a version (`nox -s release`); `publish` builds, gates and
pushes the tagged release and writes its image tags (`nox -s publish`).
"""
