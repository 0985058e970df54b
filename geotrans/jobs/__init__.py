"""Jobs as a user starts them: one scene (``scene.run_scene``: here, or split into strips on a Dask
cluster, with its preview and vectors), a folder of scenes (``folder.run_folder``: ``batch`` here,
``distributed`` on Dask), ``split`` (one scene's strips). May import every layer below: run, vectors,
reading and writing, the model.
"""
