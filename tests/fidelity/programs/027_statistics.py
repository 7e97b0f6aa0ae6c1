import statistics as st

data = [2, 4, 4, 4, 5, 5, 7, 9]
print(st.mean(data), st.median(data), st.mode(data))
print(st.pstdev(data), round(st.stdev(data), 6), st.pvariance(data))
print(st.median_low([1, 3, 5, 7]), st.median_high([1, 3, 5, 7]), st.multimode("aabbc"))
print(st.quantiles(range(1, 21), n=4))
print(st.fmean([1.5, 2.5, 3.5]), st.harmonic_mean([40, 60]), round(st.geometric_mean([1, 10, 100]), 6))
x = [1, 2, 3, 4, 5]
y = [2, 4, 5, 4, 5]
print(round(st.correlation(x, y), 6), st.covariance(x, y))
print(st.linear_regression(x, y))
nd = st.NormalDist(100, 15)
print(round(nd.cdf(130), 6), round(nd.inv_cdf(0.5), 6))
try:
    st.mean([])
except st.StatisticsError as e:
    print("error:", e)
