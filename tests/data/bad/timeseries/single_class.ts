@problemName x
@univariate true
@classLabel true a
@data
1,2,3:a
2,3,4:a
