"""Dispatch (任务派遣): routes every registered case to the responsible department with
its deadlines, and runs the department side of the loop through to close."""
