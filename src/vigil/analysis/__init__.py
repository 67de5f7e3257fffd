"""Analysis: pure functions from evidence bytes (plus small state) to observations and events.

vision.py and pose.py read faces and head pose from images, audio.py finds speech in
WebM/Opus chunks, media.py decodes evidence containers, transcribe.py is the optional
speech-to-text plug-in. The job side (queue, actors, pipeline) wraps these.
"""
