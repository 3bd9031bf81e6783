hello world
@data
1,2:a
