import heapq
import bisect

nums = [5, 1, 8, 3, 9, 2]
heap = list(nums)
heapq.heapify(heap)
print(heap[0], [heapq.heappop(heap) for _ in range(3)], heap)
heapq.heappush(heap, 0)
print(heapq.nsmallest(2, nums), heapq.nlargest(3, nums), heap[0])
tasks = []
for prio, name in [(3, "low"), (1, "urgent"), (2, "normal")]:
    heapq.heappush(tasks, (prio, name))
while tasks:
    print(heapq.heappop(tasks))
print(list(heapq.merge([1, 4, 7], [2, 5, 8], [3, 6])))
grades = [60, 70, 80, 90]
letters = "FDCBA"
print([letters[bisect.bisect(grades, s)] for s in [55, 60, 75, 95]])
sorted_list = [1, 3, 5]
bisect.insort(sorted_list, 4)
print(sorted_list, bisect.bisect_left(sorted_list, 3), bisect.bisect_right(sorted_list, 3))
