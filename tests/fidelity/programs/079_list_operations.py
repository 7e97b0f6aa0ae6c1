nums = [5, 3, 8, 1, 9, 2]
nums.append(7)
nums.insert(0, 0)
nums.extend([4, 6])
print(nums, len(nums), nums.index(8), nums.count(3))
nums.remove(0)
last = nums.pop()
first = nums.pop(0)
print(last, first, nums)
nums.sort()
print(nums, nums[::-1], nums[2:5], nums[-3:], nums[::3])
nums.reverse()
print(nums, sorted(nums)[:3], sum(nums), min(nums), max(nums))
del nums[1:3]
nums[0:1] = [100, 200]
print(nums, nums * 2 if len(nums) < 4 else nums[:2] * 2)
matrix = [[0] * 3 for _ in range(2)]
matrix[0][1] = 5
print(matrix, [row[:] for row in matrix] == matrix)
a, *middle, b = range(6)
print(a, middle, b)
(x, y), z = (1, 2), 3
print(x, y, z, list(range(10, 0, -3)), [i for i in range(3)] + [9])
