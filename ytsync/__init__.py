"""ytsync: reorganize a YouTube library into category playlists, durably."""
